-- One row per message that has at least one matched receipt: the status fold of docs/design.md.
-- Receipts are unique by event_id already (staging), so plain counts are receipt counts.
-- Incremental (delete+insert on message_id): messages with a receipt (re)matched since this model
-- last ran are folded again from all their receipts, whatever their age.
-- _built_at: the stamp of the run that built the row (macro build_stamp; change tracking).
-- The deciding receipt is the first by receipt_precedence (final beats intermediate, then latest
-- done_at with NULL oldest, latest received_at, highest event_id): its status is the message's
-- final status when it is final, else the latest intermediate status.

{{
    config(
        materialized='incremental',
        unique_key='message_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ record_build_state(upstream=['int_receipts_matched'], stamped=true) }}"
    )
}}

{% set stamp = build_stamp() %}

with

{% set receipt_columns = ['message_id', 'event_id', 'status', 'is_final', 'error_code', 'mcc_mnc',
                           'done_at', 'received_at', '_last_ingested_at'] %}

receipts as (

    {% if is_incremental() %}
    -- every receipt of each message with a receipt (re)matched since this model last ran
    {{ rows_where(
        ref('int_receipts_matched'),
        'not keyed.is_orphan and keyed.message_id in (select touched.message_id from '
        ~ ref('int_receipts_matched') ~ ' as touched where touched._built_at > '
        ~ consumed_through() ~ ')',
        columns=receipt_columns
    ) }}
    {% else %}
    select {{ receipt_columns | join(', ') }}
    from {{ ref('int_receipts_matched') }}
    where not is_orphan
    {% endif %}

),

folded as (

    {{ fold_receipts('receipts') }}

),

final as (

    select
        message_id,
        status,
        case when is_final then status end as final_status,
        case when not is_final then status end as latest_intermediate_status,
        event_id as deciding_event_id,
        done_at as deciding_done_at,
        received_at as deciding_received_at,
        error_code,
        mcc_mnc as reported_mcc_mnc,
        receipt_count,
        cast(final_receipt_count as bigint) as final_receipt_count,
        first_received_at,
        last_received_at,
        _last_ingested_at,
        {{ stamp }} as _built_at
    from folded

)

select * from final
