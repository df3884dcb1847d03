-- Rule: daily totals equal the sum of the hourly rows of that day, cell by cell, on the days the
-- daily mart's latest run rebuilt (every day after a full refresh); older days were checked by the
-- run that built them.

with

daily as (

    select * from {{ ref('agg_deliverability_daily') }}
    where _built_at = (
        select max(latest._built_at) from {{ ref('agg_deliverability_daily') }} as latest
    )

),

hourly as (

    select
        {{ period_start('day', 'period_hour') }} as period_date,
        country,
        mcc_mnc,
        operator_name,
        route_tier,
        provider,
        sum(sent) as sent,
        sum(delivered) as delivered,
        sum(failed) as failed,
        sum(pending) as pending,
        sum(no_receipt) as no_receipt,
        sum(cost) as cost
    from {{ ref('agg_deliverability_hourly') }}
    where {{ period_start('day', 'period_hour') }} in (select daily.period_date from daily)
    group by 1, 2, 3, 4, 5, 6

)

select
    daily.period_date,
    hourly.period_date as hourly_period_date
from daily
full outer join hourly
    on
        daily.period_date = hourly.period_date
        and daily.country = hourly.country
        and daily.mcc_mnc is not distinct from hourly.mcc_mnc
        and daily.operator_name = hourly.operator_name
        and daily.route_tier = hourly.route_tier
        and daily.provider = hourly.provider
where
    daily.period_date is null
    or hourly.period_date is null
    or daily.sent != hourly.sent
    or daily.delivered != hourly.delivered
    or daily.failed != hourly.failed
    or daily.pending != hourly.pending
    or daily.no_receipt != hourly.no_receipt
    or daily.cost is distinct from hourly.cost
