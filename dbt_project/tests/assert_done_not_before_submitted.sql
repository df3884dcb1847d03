-- Rule: a receipt is not done before its message was submitted, beyond the providers' clock
-- tolerance (var done_before_submit_tolerance_seconds): broken clocks or a wrong match.
-- The send's submitted_at wins over the receipt's copy of it. A warning, as for every valid but
-- doubtful provider value: one bad clock must not stop the reports.
-- `dlrw build --full-refresh` checks every receipt; any other build the raw receipts ingested in
-- the lookback window (var lookback_hours) before the newest one, those its models take in, so
-- that it costs what the new data costs, not the whole history.

{{ config(severity='warn') }}

{% set newest = none %}
{% set raw_receipts = load_relation(source('raw', 'raw_receipts')) if execute else none %}
{% if raw_receipts is not none and not flags.FULL_REFRESH %}
    {% set newest = run_query(
        'select max(_ingested_at) from ' ~ raw_receipts
    ).columns[0].values()[0] %}
{% endif %}

-- the full check renders with the window's indent left behind
-- noqa: disable=LT02
with

receipts as (

    select
        event_id,
        provider,
        provider_message_id,
        done_at,
        submitted_at
    from {{ source('raw', 'raw_receipts') }}
    where
        done_at is not null
        {% if newest is not none %}
        and _ingested_at > {{ timestamp_literal(
            newest - modules.datetime.timedelta(hours=var('lookback_hours') | int)
        ) }}
        {% endif %}

),

sends as (

    select
        raw_sends.provider,
        raw_sends.provider_message_id,
        min(raw_sends.submitted_at) as submitted_at
    from {{ source('raw', 'raw_sends') }} as raw_sends
    where
        raw_sends.provider_message_id is not null
        {% if newest is not none %}
        and exists (
            select 1 from receipts
            where
                receipts.provider = raw_sends.provider
                and receipts.provider_message_id = raw_sends.provider_message_id
        )
        {% endif %}
    group by raw_sends.provider, raw_sends.provider_message_id

),
-- noqa: enable=LT02

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
