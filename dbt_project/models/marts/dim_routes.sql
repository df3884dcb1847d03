-- One row per route as sends used it (route_id x route_tier x provider x country), with how many
-- messages took it and what they cost.

with

messages as (

    select * from {{ ref('fct_messages') }}

),

routes as (

    select
        route_id,
        route_tier,
        provider,
        country,
        count(*) as messages,
        min(cost) as price_min,
        avg(cost) as price_avg,
        max(cost) as price_max,
        sum(cost) as cost,
        min(submitted_at) as first_submitted_at,
        max(submitted_at) as last_submitted_at
    from messages
    group by
        route_id,
        route_tier,
        provider,
        country

)

select * from routes
