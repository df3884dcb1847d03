-- Deliverability per UTC day of submission x country x mcc_mnc x operator x route tier x
-- provider. Incremental runs delete and rebuild every day holding a message rebuilt since this
-- model last ran, from all of that day's messages.

with

messages as (

    {{ messages_of_rebuilt_groups('submitted_date') }}

),

aggregated as (

    select
        submitted_date as period_date,
        country,
        mcc_mnc,
        operator_name,
        route_tier,
        provider,
        {{ deliverability_metrics() }}
    from messages
    group by
        submitted_date,
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
