-- Rule: a receipt is not done before its message was submitted, beyond the providers' clock
-- tolerance (var done_before_submit_tolerance_seconds): broken clocks or a wrong match.
-- The send's submitted_at wins over the receipt's copy of it. A warning, as for every valid but
-- doubtful provider value: one bad clock must not stop the reports.

{{ config(severity='warn') }}

with

receipts as (

    select
        event_id,
        provider,
        provider_message_id,
        done_at,
        submitted_at
    from {{ source('raw', 'raw_receipts') }}
    where done_at is not null

),

sends as (

    select
        provider,
        provider_message_id,
        min(submitted_at) as submitted_at
    from {{ source('raw', 'raw_sends') }}
    where provider_message_id is not null
    group by provider, provider_message_id

),

checked as (

    select
        receipts.event_id,
        receipts.provider,
        receipts.provider_message_id,
        receipts.done_at,
        coalesce(sends.submitted_at, receipts.submitted_at) as submitted_at
    from receipts
    left join sends
        on
            receipts.provider = sends.provider
            and receipts.provider_message_id = sends.provider_message_id

)

select * from checked
where
    {{ seconds_between('submitted_at', 'done_at') }}
    < -{{ var('done_before_submit_tolerance_seconds') }}
