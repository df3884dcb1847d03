-- Example questions for BI tools, on the PostgreSQL marts (schema `marts`; the read-only role
-- dlrw_bi has search_path = marts). Each query starts with a `-- name:` line; the test suite
-- (tests/report/test_bi.py) runs every one of them as dlrw_bi.

-- name: operator_drop_this_week
-- Which operators fell this week? Delivery rate of the last 7 days against the 7 before.
with weekly as (
    select
        country,
        operator_name,
        mcc_mnc,
        sum(case when period_date >= current_date - 7 then sent else 0 end) as sent_now,
        sum(case when period_date >= current_date - 7 then delivered else 0 end) as delivered_now,
        sum(case when period_date < current_date - 7 then sent else 0 end) as sent_before,
        sum(case when period_date < current_date - 7 then delivered else 0 end) as delivered_before
    from agg_deliverability_daily
    where period_date >= current_date - 14
    group by country, operator_name, mcc_mnc
)
select
    country,
    operator_name,
    mcc_mnc,
    sent_now,
    round(delivered_now::numeric / nullif(sent_now, 0), 4) as rate_now,
    round(delivered_before::numeric / nullif(sent_before, 0), 4) as rate_before,
    round(
        delivered_now::numeric / nullif(sent_now, 0)
        - delivered_before::numeric / nullif(sent_before, 0), 4
    ) as change
from weekly
where sent_now >= 100 and sent_before >= 100
order by change
limit 10;

-- name: tier_worth_its_price
-- Which route tier is worth its price? Cost per sent and per delivered message, by tier.
select
    route_tier,
    sum(sent) as sent,
    round(sum(delivered)::numeric / sum(sent), 4) as delivery_rate,
    round((sum(cost) / sum(sent))::numeric, 5) as cost_per_sent,
    round((sum(cost) / nullif(sum(delivered), 0))::numeric, 5) as cost_per_delivered
from agg_deliverability_daily
group by route_tier
order by route_tier;

-- name: cost_per_delivered_by_country
-- Cost per delivered message by country (most expensive first).
select
    country,
    sum(sent) as sent,
    sum(delivered) as delivered,
    round(sum(cost)::numeric, 2) as cost,
    round((sum(cost) / nullif(sum(delivered), 0))::numeric, 5) as cost_per_delivered
from agg_deliverability_daily
group by country
order by cost_per_delivered desc nulls last;

-- name: delivery_rate_by_country_and_tier
-- Delivery rate by country and route tier (rows: country; one column per tier).
select
    country,
    round(sum(delivered) filter (where route_tier = 1)::numeric
        / nullif(sum(sent) filter (where route_tier = 1), 0), 4) as tier_1,
    round(sum(delivered) filter (where route_tier = 2)::numeric
        / nullif(sum(sent) filter (where route_tier = 2), 0), 4) as tier_2,
    round(sum(delivered) filter (where route_tier = 3)::numeric
        / nullif(sum(sent) filter (where route_tier = 3), 0), 4) as tier_3,
    round(sum(delivered) filter (where route_tier = 4)::numeric
        / nullif(sum(sent) filter (where route_tier = 4), 0), 4) as tier_4
from agg_deliverability_daily
group by country
order by sum(sent) desc;

-- name: provider_latency_p95
-- Which provider is slowest? Exact latency percentiles from the messages.
select
    provider,
    count(*) as delivered,
    round((percentile_cont(0.5) within group (order by latency_s))::numeric, 1) as p50_s,
    round((percentile_cont(0.95) within group (order by latency_s))::numeric, 1) as p95_s
from fct_messages
where latency_s is not null
group by provider
order by p95_s desc;

-- name: top_error_codes_by_operator
-- The most frequent failure codes and where they happen.
select
    e.status,
    e.error_code,
    e.country,
    e.mcc_mnc,
    coalesce(o.operator_name, 'unknown') as operator_name,
    sum(e.messages) as messages
from agg_error_codes_daily as e
left join dim_operators as o on e.mcc_mnc = o.mcc_mnc
where e.status not in ('DELIVERED', 'ACCEPTED', 'ENROUTE')
group by e.status, e.error_code, e.country, e.mcc_mnc, o.operator_name
order by messages desc
limit 20;

-- name: missing_receipts_by_route
-- Where do receipts go missing? Share of messages without any receipt, by tier and provider.
select
    route_tier,
    provider,
    sum(sent) as sent,
    sum(no_receipt) as no_receipt,
    round(sum(no_receipt)::numeric / sum(sent), 4) as no_receipt_share
from agg_deliverability_daily
group by route_tier, provider
order by no_receipt_share desc;

-- name: hourly_delivery_last_24h
-- Delivery rate per hour over the last 24 hours of data (for a time-series chart).
select
    period_hour,
    sum(sent) as sent,
    round(sum(delivered)::numeric / sum(sent), 4) as delivery_rate
from agg_deliverability_hourly
where period_hour >= (select max(period_hour) from agg_deliverability_hourly) - interval '24 hours'
group by period_hour
order by period_hour;

-- name: conversion_rate_by_country_os
-- Conversion rate by country and device OS (converted / delivered messages of the country).
with delivered as (
    select country, sum(delivered_messages) as delivered_messages
    from fct_conversions_by_segment
    where device_os = 'all'
    group by country
)
select
    c.country,
    c.device_os,
    sum(c.converted_messages) as converted,
    round(sum(c.converted_messages)::numeric / max(d.delivered_messages), 4) as conversion_rate
from fct_conversions_by_segment as c
inner join delivered as d on c.country = d.country
group by c.country, c.device_os
order by c.country, c.device_os;

-- name: worst_cells_with_volume
-- The worst country x operator x tier x provider cells with enough traffic to matter.
select
    country,
    operator_name,
    mcc_mnc,
    route_tier,
    provider,
    sum(sent) as sent,
    sum(failed) as failed,
    sum(pending) as pending,
    round(sum(delivered)::numeric / sum(sent), 4) as delivery_rate
from agg_deliverability_daily
group by country, operator_name, mcc_mnc, route_tier, provider
having sum(sent) >= 50
order by delivery_rate, sent desc
limit 15;
