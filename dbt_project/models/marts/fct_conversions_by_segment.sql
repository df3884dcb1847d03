-- Conversion rate per country x operator x route tier x device OS.
-- Denominator: DELIVERED messages of the segment (country x mcc_mnc x operator x route tier) --
-- an undelivered message cannot convert, so counting it would blame the sender's content for the
-- route's losses. Numerator: those delivered messages with at least one conversion. A message's
-- device OS is that of its first conversion ('unknown' when not reported, or reported as 'all');
-- non-converting messages have no OS, so the per-OS rows share the segment's denominator and the
-- row with device_os = 'all' carries the segment total (present even when nothing converted).

with

conversions as (

    select * from {{ ref('stg_raw__conversions') }}

),

first_conversion as (

    select
        message_id,
        device_os,
        row_number() over (
            partition by message_id
            order by occurred_at, event_id
        ) as conversion_order
    from conversions

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

-- conversion_value in the reporting currency: a value without a rate is left out (dbt test
-- assert_amounts_have_exchange_rates reports it)
conversion_totals as (

    select
        conversions.message_id,
        count(*) as conversions,
        sum({{ convert_money('conversions.value', 'fx_rates.fx_rate') }}) as conversion_value
    from conversions
    left join fx_rates
        on
            conversions.currency = fx_rates.currency
            and cast(conversions.occurred_at as date) = fx_rates.amount_date
    group by conversions.message_id

),

segments as (

    select
        country,
        mcc_mnc,
        operator_name,
        route_tier,
        count(*) as delivered_messages
    from {{ ref('fct_messages') }}
    where is_delivered
    group by
        country,
        mcc_mnc,
        operator_name,
        route_tier

),

-- delivered messages with at least one conversion (every one has a first conversion)
converted as (

    select
        delivered.country,
        delivered.mcc_mnc,
        delivered.operator_name,
        delivered.route_tier,
        -- 'all' names the segment total's row, so a device reported as 'all' is unknown
        coalesce(nullif(first_conversion.device_os, 'all'), 'unknown') as device_os,
        conversion_totals.conversions,
        conversion_totals.conversion_value
    from {{ ref('fct_messages') }} as delivered
    inner join first_conversion
        on
            delivered.message_id = first_conversion.message_id
            and first_conversion.conversion_order = 1
    inner join conversion_totals
        on delivered.message_id = conversion_totals.message_id
    where delivered.is_delivered

),

by_device as (

    select
        country,
        mcc_mnc,
        operator_name,
        route_tier,
        device_os,
        count(*) as converted_messages,
        sum(conversions) as conversions,
        sum(conversion_value) as conversion_value
    from converted
    group by
        country,
        mcc_mnc,
        operator_name,
        route_tier,
        device_os

),

by_segment as (

    select
        country,
        mcc_mnc,
        operator_name,
        route_tier,
        'all' as device_os,
        sum(converted_messages) as converted_messages,
        sum(conversions) as conversions,
        sum(conversion_value) as conversion_value
    from by_device
    group by
        country,
        mcc_mnc,
        operator_name,
        route_tier

),

unioned as (

    select * from by_device
    union all
    select * from by_segment

),

final as (

    select
        segments.country,
        segments.mcc_mnc,
        segments.operator_name,
        segments.route_tier,
        coalesce(unioned.device_os, 'all') as device_os,
        segments.delivered_messages,
        cast(coalesce(unioned.converted_messages, 0) as bigint) as converted_messages,
        cast(coalesce(unioned.conversions, 0) as bigint) as conversions,
        coalesce(unioned.conversion_value, 0) as conversion_value,
        {{ safe_divide('coalesce(unioned.converted_messages, 0)', 'segments.delivered_messages') }}
            as conversion_rate
    from segments
    left join unioned
        on
            segments.country = unioned.country
            and segments.mcc_mnc is not distinct from unioned.mcc_mnc
            and segments.operator_name = unioned.operator_name
            and segments.route_tier = unioned.route_tier

)

select * from final
