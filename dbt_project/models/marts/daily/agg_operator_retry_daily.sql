-- What a phone that is off leaves in the receipts, per UTC day of submission x country x
-- mcc_mnc x operator: a network that retries delivers late, one that does not fails the message
-- absent_subscriber at once (dim_operator_retry weighs the two). Incremental runs delete and
-- rebuild every day holding a message rebuilt since this model last ran.

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
        count(*) as sent,
        {{ count_if("outcome = 'delivered'") }} as delivered,
        -- routes deliver within minutes; later than the alerts' 10-minute settle means a retry
        {{ count_if("outcome = 'delivered' and latency_s > 600") }} as delivered_late,
        {{ count_if("failure_cause = 'absent_subscriber'") }} as absent_subscriber
    from messages
    group by
        submitted_date,
        country,
        mcc_mnc,
        operator_name

)

select
    *,
    -- the stamp of the run that built the row (macro build_stamp)
    {{ build_stamp() }} as _built_at
from aggregated
