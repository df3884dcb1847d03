{{
    config(
        materialized='incremental',
        unique_key='period_hour',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ record_build_state(upstream=['fct_messages']) }}"
    )
}}

-- Deliverability per UTC hour of submission x country x mcc_mnc x operator x route tier x
-- provider. Incremental runs delete and rebuild every hour holding a message rebuilt since this
-- model last ran, from all of that hour's messages.

with

messages as (

    {{ messages_of_rebuilt_groups('submitted_hour') }}

),

aggregated as (

    select
        submitted_hour as period_hour,
        country,
        mcc_mnc,
        operator_name,
        route_tier,
        provider,
        {{ deliverability_metrics() }}
    from messages
    group by
        submitted_hour,
        country,
        mcc_mnc,
        operator_name,
        route_tier,
        provider

)

select
    *,
    -- the stamp of the run that built the row (macro build_stamp)
    {{ build_stamp() }} as _built_at
from aggregated
