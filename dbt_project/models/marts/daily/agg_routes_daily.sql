-- Messages and their cost per UTC day of submission x route (route_id x route_tier x provider x
-- country): route prices over time, and what dim_routes sums over all days. Incremental runs
-- delete and rebuild every day holding a message rebuilt since this model last ran, from all of
-- that day's messages.

with

messages as (

    {{ messages_of_rebuilt_groups('submitted_date') }}

),

aggregated as (

    select
        submitted_date as period_date,
        route_id,
        route_tier,
        provider,
        country,
        count(*) as messages,
        count(cost) as priced_messages,
        min(cost) as price_min,
        max(cost) as price_max,
        sum(cost) as cost,
        min(submitted_at) as first_submitted_at,
        max(submitted_at) as last_submitted_at,
        max(_last_ingested_at) as _last_ingested_at
    from messages
    group by
        submitted_date,
        route_id,
        route_tier,
        provider,
        country

)

select
    *,
    -- the stamp of the run that built the row (macro build_stamp)
    {{ build_stamp() }} as _built_at
from aggregated
