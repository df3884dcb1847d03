-- Conversion rate per country x operator x route tier x device OS.
-- Denominator: DELIVERED messages of the segment (country x mcc_mnc x operator x route tier) --
-- an undelivered message cannot convert, so counting it would blame the sender's content for the
-- route's losses. Numerator: those delivered messages with at least one conversion. A message's
-- device OS is that of its first conversion ('unknown' when not reported, or reported as 'all');
-- non-converting messages have no OS, so the per-OS rows share the segment's denominator and the
-- row with device_os = 'all' carries the segment total (present even when nothing converted).
-- Summed over all days from the daily rows (agg_deliverability_daily's delivered messages,
-- agg_conversions_daily's converted ones): rebuilt whole each run, never from messages.

with

segments as (

    select
        country,
        mcc_mnc,
        operator_name,
        route_tier,
        sum(delivered) as delivered_messages
    from {{ ref('agg_deliverability_daily') }}
    group by
        country,
        mcc_mnc,
        operator_name,
        route_tier
    having sum(delivered) > 0

),

by_device as (

    select
        country,
        mcc_mnc,
        operator_name,
        route_tier,
        device_os,
        sum(converted_messages) as converted_messages,
        sum(conversions) as conversions,
        sum(conversion_value) as conversion_value
    from {{ ref('agg_conversions_daily') }}
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
        cast(segments.delivered_messages as bigint) as delivered_messages,
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

select
    *,
    -- the stamp of the run that built the row (macro build_stamp)
    {{ build_stamp() }} as _built_at
from final
