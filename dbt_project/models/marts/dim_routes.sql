{{
    config(
        materialized='incremental',
        unique_key=['route_id', 'route_tier', 'provider', 'country'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ record_build_state(upstream=['int_sends', 'int_message_lifecycle']) }}"
    )
}}

-- One row per route as sends used it (route_id x route_tier x provider x country), with how many
-- messages took it and what they cost. Incremental runs recompute every route holding a message
-- rebuilt since this model last ran, from all of that route's messages.

with

messages as (

    {{ messages_of_rebuilt_groups(['route_id', 'route_tier', 'provider', 'country']) }}

),

routes as (

    select
        messages.route_id,
        messages.route_tier,
        messages.provider,
        messages.country,
        count(*) as messages,
        min(messages.cost) as price_min,
        avg(messages.cost) as price_avg,
        max(messages.cost) as price_max,
        sum(messages.cost) as cost,
        min(messages.submitted_at) as first_submitted_at,
        max(messages.submitted_at) as last_submitted_at,
        max(messages._last_ingested_at) as _last_ingested_at
    from messages
    group by
        messages.route_id,
        messages.route_tier,
        messages.provider,
        messages.country

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
        messages,
        price_min,
        price_avg,
        price_max,
        cost,
        first_submitted_at,
        last_submitted_at,
        _last_ingested_at
    from routes

)

select * from final
