{#- The status fold of docs/design.md over matched receipts (`relation`: message_id, event_id, status,
    is_final, error_code, mcc_mnc, done_at, received_at, _last_ingested_at): one row per message
    with its deciding receipt (first in receipt_precedence order) and per-message totals.
    DuckDB picks the deciding receipt with one hash aggregate (arg_max), which is much faster
    than sorting every message's receipts; other warehouses use a window. -#}
{% macro fold_receipts(relation) -%}
    {{ return(adapter.dispatch('fold_receipts', 'dlrw')(relation)) }}
{%- endmacro %}

{% macro default__fold_receipts(relation) -%}
    select
        ranked.message_id,
        ranked.event_id,
        ranked.status,
        ranked.is_final,
        ranked.error_code,
        ranked.mcc_mnc,
        ranked.done_at,
        ranked.received_at,
        ranked.receipt_count,
        ranked.final_receipt_count,
        ranked.first_received_at,
        ranked.last_received_at,
        ranked._last_ingested_at_all as _last_ingested_at
    from (
        select
            receipts.*,
            row_number() over (
                partition by receipts.message_id
                order by {{ receipt_precedence() }}
            ) as precedence,
            count(*) over by_message as receipt_count,
            sum(case when receipts.is_final then 1 else 0 end) over by_message
                as final_receipt_count,
            min(receipts.received_at) over by_message as first_received_at,
            max(receipts.received_at) over by_message as last_received_at,
            max(receipts._last_ingested_at) over by_message as _last_ingested_at_all
        from {{ relation }} as receipts
        window by_message as (partition by receipts.message_id)
    ) as ranked
    where ranked.precedence = 1
{%- endmacro %}

{% macro duckdb__fold_receipts(relation) -%}
    select
        folded.message_id,
        folded.deciding.event_id as event_id,
        folded.deciding.status as status,
        folded.deciding.is_final as is_final,
        folded.deciding.error_code as error_code,
        folded.deciding.mcc_mnc as mcc_mnc,
        folded.deciding.done_at as done_at,
        folded.deciding.received_at as received_at,
        folded.receipt_count,
        folded.final_receipt_count,
        folded.first_received_at,
        folded.last_received_at,
        folded._last_ingested_at
    from (
        select
            receipts.message_id,
            arg_max(
                struct_pack(
                    event_id := receipts.event_id,
                    status := receipts.status,
                    is_final := receipts.is_final,
                    error_code := receipts.error_code,
                    mcc_mnc := receipts.mcc_mnc,
                    done_at := receipts.done_at,
                    received_at := receipts.received_at
                ),
                {{ receipt_precedence_key(
                    'receipts.is_final', 'receipts.done_at', 'receipts.received_at',
                    'receipts.event_id'
                ) }}
            ) as deciding,
            count(*) as receipt_count,
            count_if(receipts.is_final) as final_receipt_count,
            min(receipts.received_at) as first_received_at,
            max(receipts.received_at) as last_received_at,
            max(receipts._last_ingested_at) as _last_ingested_at
        from {{ relation }} as receipts
        group by receipts.message_id
    ) as folded
{%- endmacro %}
