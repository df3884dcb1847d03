-- Messages per UTC day of submission x provider x country x mcc_mnc x error code x status, where
-- status and error code are those of the receipt that decides the message's status. Messages with
-- no receipt appear with status 'NO_RECEIPT'.

with

messages as (

    select * from {{ ref('fct_messages') }}

),

aggregated as (

    select
        submitted_date as period_date,
        provider,
        country,
        mcc_mnc,
        error_code,
        coalesce(status, 'NO_RECEIPT') as status,
        count(*) as messages
    from messages
    group by
        submitted_date,
        provider,
        country,
        mcc_mnc,
        error_code,
        coalesce(status, 'NO_RECEIPT')

)

select * from aggregated
