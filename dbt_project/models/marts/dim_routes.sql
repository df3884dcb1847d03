-- One row per route as sends used it (route_id x route_tier x provider x country), with how many
-- messages took it and what they cost: agg_routes_daily over all days, rebuilt whole each run
-- from the daily rows, never from messages.

with

daily as (

    select * from {{ ref('agg_routes_daily') }}

),

routes as (

    select
        route_id,
        route_tier,
        provider,
        country,
        sum(messages) as messages,
        min(price_min) as price_min,
        -- the mean of the costs a rate converted (a cost without a rate is NULL, left out)
        {{ safe_divide('sum(cost)', 'sum(priced_messages)') }} as price_avg,
        max(price_max) as price_max,
        sum(cost) as cost,
        min(first_submitted_at) as first_submitted_at,
        max(last_submitted_at) as last_submitted_at,
        max(_last_ingested_at) as _last_ingested_at
    from daily
    group by
        route_id,
        route_tier,
        provider,
        country

),

final as (

    select
        -- for display: a '|' inside route_id or provider can make two routes' keys equal
        route_id || '|' || cast(route_tier as {{ dbt.type_string() }}) || '|' || provider || '|' || country
            as route_key,
        route_id,
        route_tier,
        provider,
        country,
        cast(messages as bigint) as messages,
        price_min,
        price_avg,
        price_max,
        cost,
        first_submitted_at,
        last_submitted_at,
        _last_ingested_at
    from routes

)

select
    *,
    -- the stamp of the run that built the row (macro build_stamp)
    {{ build_stamp() }} as _built_at
from final
