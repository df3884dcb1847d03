{{
    config(
        materialized='incremental',
        unique_key='route_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}

-- One row per route as sends used it (route_id x route_tier x provider x country), with how many
-- messages took it and what they cost. Incremental runs recompute every route holding a message
-- rebuilt since the cutoff, from all of that route's messages.

with

messages as (

    select
        *,
        -- one non-NULL key for delete+insert (the route's columns are all part of the send)
        route_id || '|' || cast(route_tier as varchar) || '|' || provider || '|' || country
            as route_key
    from {{ ref('fct_messages') }}

),

{% if is_incremental() %}

touched as (

    select distinct route_key from messages
    where _last_ingested_at > {{ incremental_cutoff('_last_ingested_at') }}

),

{% endif %}

routes as (

    select
        route_key,
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
        max(submitted_at) as last_submitted_at,
        max(_last_ingested_at) as _last_ingested_at
    from messages
    {% if is_incremental() %}
    where route_key in (select touched.route_key from touched)
    {% endif %}
    group by
        route_key,
        route_id,
        route_tier,
        provider,
        country

)

select * from routes
