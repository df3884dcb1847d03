{{
    config(
        materialized='incremental',
        unique_key='message_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ record_build_state(upstream=['int_sends', 'int_message_lifecycle'], stamped=true) }}"
    )
}}

-- One row per sent message: the send's routing decision, the status fold's result and the
-- metrics' per-message inputs. Incremental runs recompute every message whose send or status
-- fold was (re)built since this model last ran (change tracking, macro build_state).
-- _built_at: the stamp of the run that built the row (macro build_stamp): the marts over
-- fct_messages take in the rows stamped since they last ran.

{% set stamp = build_stamp() %}
{% set send_columns = ['event_id', 'message_id', 'provider', 'provider_message_id', 'campaign_id',
                       'sender_id', 'destination_hash', 'country', 'mcc_mnc', 'route_id',
                       'route_tier', 'segments', 'encoding', 'price', 'currency', 'submitted_at',
                       '_ingested_at'] %}

with

{% if is_incremental() %}
touched as (

    {{ changed_message_ids() }}

),

-- the sends and status folds of the messages to rebuild, each read once
message_sends as (

    {{ rows_where(
        ref('int_sends'),
        'keyed.message_id in (select touched.message_id from touched)',
        columns=send_columns
    ) }}

),

-- a fold rebuilt since is among the table's last rows: bound by _built_at
message_folds as (

    {{ rows_where(
        ref('int_message_lifecycle'),
        'keyed.message_id in (select touched.message_id from touched)',
        columns=['message_id', 'status', 'final_status', 'latest_intermediate_status',
                 'deciding_event_id', 'deciding_done_at', 'deciding_received_at', 'error_code',
                 'reported_mcc_mnc', 'receipt_count', 'final_receipt_count', 'first_received_at',
                 'last_received_at', '_last_ingested_at'],
        bound='_built_at'
    ) }}

),

{% set all_sends, all_folds = 'message_sends', 'message_folds' %}
{% else %}
{#- a full refresh reads the tables themselves: a CTE read more than once is stored whole first -#}
{% set all_sends, all_folds = ref('int_sends'), ref('int_message_lifecycle') %}
{% endif %}

-- a message_id sent more than once (different event_ids) is one message: its earliest send
-- (then the lowest event_id) gives the routing, period and cost; receipts of every send count
sends as (

    {{ first_row_per_key(
        all_sends, 'message_id', 'keyed.submitted_at, keyed.event_id', columns=send_columns
    ) }}

),

lifecycle as (

    select * from {{ all_folds }}

),

operators as (

    select * from {{ ref('dim_operators') }}

),

-- the exchange rate of each send's currency on its day of submission; the days are those of
-- every send of the messages (a superset), so that `sends` is read once, not stored
send_days as (

    select
        currency,
        cast(submitted_at as date) as amount_date
    from {{ all_sends }}

),

fx_rates as (

    {{ exchange_rates_on('send_days') }}

),

-- the failure cause of every route and final status the failed messages have (macro
-- failure_causes): a few rows, looked up below instead of matching every message to the seed
failed_keys as (

    select distinct
        int_sends.provider,
        int_sends.route_id,
        failed.error_code,
        failed.final_status
    from {{ all_folds }} as failed
    inner join {{ all_sends }} as int_sends
        on failed.message_id = int_sends.message_id
    where failed.final_status in {{ status_list(failed_statuses()) }}

),

failure_causes as (

    {{ failure_causes('failed_keys') }}

),

joined as (

    select
        -- ids
        sends.message_id,
        sends.event_id as send_event_id,
        sends.provider,
        sends.provider_message_id,
        sends.campaign_id,
        sends.sender_id,
        sends.destination_hash,

        -- routing decision (decides the reporting cell)
        sends.country,
        sends.mcc_mnc,
        coalesce(operators.operator_name, 'unknown') as operator_name,
        sends.route_id,
        sends.route_tier,

        -- network the receipts report (numbers get ported); informational only
        lifecycle.reported_mcc_mnc,

        -- content and cost: the price in its currency; cost in the reporting currency at the
        -- rate of the submission day (NULL when there is no rate: never a raw amount)
        sends.segments,
        sends.encoding,
        {{ money('sends.price') }} as price,
        sends.currency,
        fx_rates.fx_rate,
        fx_rates.fx_rate_date,
        {{ convert_money('sends.price', 'fx_rates.fx_rate') }} as cost,
        cast('{{ var("reporting_currency") }}' as varchar(3)) as cost_currency,

        -- status fold
        lifecycle.status,
        lifecycle.final_status,
        lifecycle.latest_intermediate_status,
        lifecycle.error_code,
        lifecycle.deciding_event_id,
        coalesce(lifecycle.receipt_count, 0) as receipt_count,
        coalesce(lifecycle.final_receipt_count, 0) as final_receipt_count,

        -- timestamps (UTC)
        sends.submitted_at,
        {{ period_start('hour', 'sends.submitted_at') }} as submitted_hour,
        {{ period_start('day', 'sends.submitted_at') }} as submitted_date,
        lifecycle.first_received_at,
        lifecycle.last_received_at,
        case
            when lifecycle.final_status = 'DELIVERED' then lifecycle.deciding_done_at
        end as done_at,

        -- lineage: the newest raw row this message was built from
        case
            when lifecycle._last_ingested_at > sends._ingested_at
                then lifecycle._last_ingested_at
            else sends._ingested_at
        end as _last_ingested_at

    from sends
    left join lifecycle
        on sends.message_id = lifecycle.message_id
    left join operators
        on sends.mcc_mnc = operators.mcc_mnc
    left join fx_rates
        on
            sends.currency = fx_rates.currency
            and cast(sends.submitted_at as date) = fx_rates.amount_date

),

with_outcome as (

    select
        joined.*,
        {{ message_outcome('joined.final_status') }} as outcome,
        -- NULL unless the message failed ('unknown' when no code row matches)
        failure_causes.failure_cause,
        failure_causes.is_permanent_failure
    from joined
    -- only failed statuses have a row
    left join failure_causes
        on
            joined.provider = failure_causes.provider
            and joined.route_id = failure_causes.route_id
            -- error_code may be NULL: equal as text and in being NULL (a hash join on both)
            and coalesce(joined.error_code, '') = coalesce(failure_causes.error_code, '')
            and (joined.error_code is null) = (failure_causes.error_code is null)
            and joined.final_status = failure_causes.final_status

),

final as (

    select
        *,
        outcome = 'delivered' as is_delivered,
        outcome = 'failed' as is_failed,
        outcome = 'pending' as is_pending,
        receipt_count > 0 as has_receipt,
        {{ latency_seconds('submitted_at', 'done_at') }} as latency_s,
        {{ stamp }} as _built_at
    from with_outcome

)

select * from final
