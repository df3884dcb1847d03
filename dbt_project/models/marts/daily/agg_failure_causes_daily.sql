-- Failed messages per UTC day of submission x country x mcc_mnc x operator x route tier x provider
-- x failure cause (seed failure_codes): per cell, messages summed over causes = failed in
-- agg_deliverability_daily. Incremental runs delete and rebuild every day holding a message
-- rebuilt since this model last ran, from all of that day's failed messages.

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
        failure_cause,
        count(*) as messages,
        sum(cost) as cost
    from messages
    where is_failed
    group by
        submitted_date,
        country,
        mcc_mnc,
        operator_name,
        route_tier,
        provider,
        failure_cause

)

select
    *,
    -- the stamp of the run that built the row (macro build_stamp)
    {{ build_stamp() }} as _built_at
from aggregated
