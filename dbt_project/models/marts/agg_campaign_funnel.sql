{{
    config(
        materialized='incremental',
        unique_key='period_date',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ record_build_state(upstream=['int_sends', 'int_message_lifecycle']) }}"
    )
}}

-- The campaign funnel per UTC day of submission x campaign x country x mcc_mnc x operator x
-- device OS: sent, delivered, converted, what the conversions brought and what sending cost. A
-- message's device OS is that of its first conversion; without one it is 'unknown', so every
-- message counts once. Converted and conversion value count delivered messages only, as in
-- fct_conversions_by_segment. Incremental runs delete and rebuild every day holding a message
-- rebuilt since this model last ran or a conversion ingested after the cutoff (macro
-- incremental_cutoff): conversions change no message, so they are looked for on their own.

with

messages as (

    {% call messages_of_rebuilt_groups('submitted_date') -%}
        select recent.message_id
        from {{ source('raw', 'raw_conversions') }} as recent
        where recent._ingested_at > {{ incremental_cutoff() }}
    {%- endcall %}

),

-- every conversion of those messages (on a full refresh all of them), deduplicated over all its
-- copies
conversions as (

    {{ deduplicate_events(
        source('raw', 'raw_conversions'),
        columns=['event_id', 'message_id', 'value', 'currency', 'device_os', 'occurred_at',
                 '_ingested_at'],
        where='keyed.event_id in (select of_messages.event_id from '
            ~ source('raw', 'raw_conversions') ~ ' as of_messages where of_messages.message_id in'
            ~ ' (select funnel_messages.message_id from messages as funnel_messages))'
            if is_incremental() else none
    ) }}

),

-- the exchange rate of each conversion's currency on its day
conversion_days as (

    select
        currency,
        cast(occurred_at as date) as amount_date
    from conversions

),

fx_rates as (

    {{ exchange_rates_on('conversion_days') }}

),

ranked_conversions as (

    select
        conversions.message_id,
        conversions.device_os,
        conversions._ingested_at,
        {{ convert_money('conversions.value', 'fx_rates.fx_rate') }} as conversion_value,
        row_number() over (
            partition by conversions.message_id
            order by conversions.occurred_at, conversions.event_id
        ) as conversion_order
    from conversions
    left join fx_rates
        on
            conversions.currency = fx_rates.currency
            and cast(conversions.occurred_at as date) = fx_rates.amount_date

),

-- per message: its device and its conversions' value in the reporting currency (a value without
-- a rate is left out; dbt test assert_amounts_have_exchange_rates reports it)
message_conversions as (

    select
        message_id,
        -- 'all' names a segment's total row in fct_conversions_by_segment: an unknown device
        max(case when conversion_order = 1 then coalesce(nullif(device_os, 'all'), 'unknown') end)
            as device_os,
        sum(conversion_value) as conversion_value,
        max(_ingested_at) as _last_ingested_at
    from ranked_conversions
    group by message_id

),

funnel_messages as (

    select
        messages.submitted_date,
        messages.campaign_id,
        messages.country,
        messages.mcc_mnc,
        messages.operator_name,
        coalesce(message_conversions.device_os, 'unknown') as device_os,
        messages.is_delivered,
        messages.is_delivered and message_conversions.message_id is not null as is_converted,
        message_conversions.conversion_value,
        messages.cost,
        case
            when message_conversions._last_ingested_at > messages._last_ingested_at
                then message_conversions._last_ingested_at
            else messages._last_ingested_at
        end as _last_ingested_at
    from messages
    left join message_conversions
        on messages.message_id = message_conversions.message_id

),

aggregated as (

    select
        submitted_date as period_date,
        campaign_id,
        country,
        mcc_mnc,
        operator_name,
        device_os,
        count(*) as sent,
        {{ count_if('is_delivered') }} as delivered,
        {{ count_if('is_converted') }} as converted,
        coalesce(sum(case when is_converted then conversion_value end), 0) as conversion_value,
        sum(cost) as cost,
        max(_last_ingested_at) as _last_ingested_at
    from funnel_messages
    group by
        submitted_date,
        campaign_id,
        country,
        mcc_mnc,
        operator_name,
        device_os

),

final as (

    select
        period_date,
        campaign_id,
        country,
        mcc_mnc,
        operator_name,
        device_os,
        sent,
        delivered,
        converted,
        conversion_value,
        cost,
        {{ safe_divide('cost', 'delivered') }} as cost_per_delivered,
        {{ safe_divide('cost', 'converted') }} as cost_per_conversion,
        _last_ingested_at
    from aggregated

)

select * from final
