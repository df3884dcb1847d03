-- Messages per UTC day of submission x provider x country x mcc_mnc x error code x status, where
-- status and error code are those of the receipt that decides the message's status. Messages with
-- no receipt appear with status 'NO_RECEIPT'. Incremental runs delete and rebuild every day
-- holding a message rebuilt since this model last ran, from all of that day's messages.

with

messages as (

    {{ messages_of_rebuilt_groups('submitted_date') }}

),

aggregated as (

    select
        submitted_date as period_date,
        provider,
        country,
        mcc_mnc,
        error_code,
        coalesce(status, 'NO_RECEIPT') as status,
        count(*) as messages,
        max(_last_ingested_at) as _last_ingested_at
    from messages
    group by
        submitted_date,
        provider,
        country,
        mcc_mnc,
        error_code,
        coalesce(status, 'NO_RECEIPT')

)

select
    *,
    -- the stamp of the run that built the row (macro build_stamp)
    {{ build_stamp() }} as _built_at
from aggregated
