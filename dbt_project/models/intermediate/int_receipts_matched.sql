-- Every deduplicated receipt with the message it belongs to: by message_id when the provider
-- echoed one we know, else by provider + provider_message_id. Receipts matching no send are kept
-- as orphans (message_id NULL) so nothing disappears; a later send re-matches them. Where several
-- sends share the id (reuse), the one in use when the receipt came wins (ranked, below).
-- Only the columns the status fold needs are kept (the raw table keeps the rest).
-- Incremental (delete+insert on event_id): receipts with a copy not built yet that was ingested
-- after the cutoff (newest built _ingested_at minus lookback_hours), and every receipt a send built
-- since this model last ran may claim, are matched again. Raw copies are read only after the
-- cutoff: by the lookback contract, older copies were all built already.
-- _built_at: the stamp of the run that built the row (macro build_stamp; change tracking).

{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ record_build_state(upstream=['int_sends'], stamped=true) }}"
    )
}}

{% set stamp = build_stamp() %}

with

{% if is_incremental() %}

new_sends as (

    select * from {{ ref('int_sends') }}
    where _built_at > {{ consumed_through() }}

),

{% set cutoff = incremental_cutoff('_ingested_at') %}

-- receipts a new send may claim, with the columns that match them (the same in every copy)
claimed as (

    select
        claims.event_id,
        min(claims.provider) as provider,  -- noqa: RF04
        min(claims.provider_message_id) as provider_message_id,
        min(claims.message_id) as reported_message_id
    from (
        select raw_receipts.*
        from {{ source('raw', 'raw_receipts') }} as raw_receipts
        inner join new_sends
            on raw_receipts.message_id = new_sends.message_id
        union all
        select raw_receipts.*
        from {{ source('raw', 'raw_receipts') }} as raw_receipts
        inner join new_sends
            on
                raw_receipts.provider = new_sends.provider
                and raw_receipts.provider_message_id = new_sends.provider_message_id
    ) as claims
    group by claims.event_id

),

-- claimed receipts built from a copy ingested before the cutoff: every copy that old was built
-- (lookback contract) and later copies lose, so the built row still holds the winning copy
claimed_built as (

    select
        claimed.event_id,
        claimed.provider,
        claimed.provider_message_id,
        claimed.reported_message_id,
        built.status,
        built.is_final,
        built.error_code,
        built.mcc_mnc,
        built.done_at,
        built.received_at,
        built._ingested_at
    from claimed
    inner join {{ this }} as built
        on claimed.event_id = built.event_id
    where built._ingested_at <= {{ cutoff }}

),

-- every other receipt to match again has all its copies ingested after the cutoff
fresh as (

    {{ unbuilt_event_ids(source('raw', 'raw_receipts'), this, cutoff, whole_built=true) }}
    union
    select claimed.event_id from claimed
    where claimed.event_id not in (select claimed_built.event_id from claimed_built)

),

receipts as (

    -- as stg_raw__receipts, deduplicating only the raw copies ingested after the cutoff
    select
        event_id,
        provider,
        provider_message_id,
        message_id as reported_message_id,
        status,
        {{ is_final_status('status') }} as is_final,
        error_code,
        mcc_mnc,
        done_at,
        received_at,
        _ingested_at
    from (
        {{ deduplicate_events(
            source('raw', 'raw_receipts'),
            columns=[
                'event_id', 'provider', 'provider_message_id', 'message_id', 'status',
                'error_code', 'mcc_mnc', 'done_at', 'received_at', '_ingested_at'
            ],
            where='events._ingested_at > ' ~ cutoff
                ~ ' and events.event_id in (select fresh.event_id from fresh)'
        ) }}
    ) as deduplicated
    union all
    select * from claimed_built

),

{% else %}

receipts as (

    select
        event_id,
        provider,
        provider_message_id,
        reported_message_id,
        status,
        is_final,
        error_code,
        mcc_mnc,
        done_at,
        received_at,
        _ingested_at
    from {{ ref('stg_raw__receipts') }}

),

{% endif %}

-- every send a receipt may belong to: those with the message_id it echoes, else those of its
-- provider with its provider_message_id (a provider may reuse an id for a later message)
candidates as (

    select
        receipts.event_id,
        coalesce(by_message_id.message_id, by_provider_id.message_id) as message_id,
        case
            when by_message_id.message_id is not null then 'message_id'
            when by_provider_id.message_id is not null then 'provider_message_id'
        end as matched_by,
        receipts.status,
        receipts.is_final,
        receipts.error_code,
        receipts.mcc_mnc,
        receipts.done_at,
        receipts.received_at,
        receipts._ingested_at,
        coalesce(by_message_id._ingested_at, by_provider_id._ingested_at) as send_ingested_at,
        coalesce(by_message_id.submitted_at, by_provider_id.submitted_at) as send_submitted_at,
        coalesce(by_message_id.event_id, by_provider_id.event_id) as send_event_id
    from receipts
    -- int_sends twice rather than through one CTE, which would be materialized whole
    left join {{ ref('int_sends') }} as by_message_id
        on receipts.reported_message_id = by_message_id.message_id
    left join {{ ref('int_sends') }} as by_provider_id
        on
            by_message_id.message_id is null
            and receipts.provider = by_provider_id.provider
            and receipts.provider_message_id = by_provider_id.provider_message_id

),

-- one send per receipt: the latest submitted at or before the receipt was received (the id's
-- use at that time), else the earliest submitted after it; ties by message_id, then event_id
ranked as (

    select
        candidates.*,
        row_number() over (
            partition by candidates.event_id
            order by
                case when candidates.send_submitted_at <= candidates.received_at then 0 else 1 end,
                case
                    when candidates.send_submitted_at <= candidates.received_at
                        then candidates.send_submitted_at
                end desc nulls last,
                candidates.send_submitted_at asc,
                candidates.message_id asc,
                candidates.send_event_id asc
        ) as candidate_rank
    from candidates

),

matched as (

    select
        event_id,
        message_id,
        matched_by,
        status,
        is_final,
        error_code,
        mcc_mnc,
        done_at,
        received_at,
        _ingested_at,
        send_ingested_at
    from ranked
    where candidate_rank = 1

),

final as (

    select
        *,
        message_id is null as is_orphan,
        -- lineage: the newest raw row (the receipt or its send) behind this match
        case
            when send_ingested_at > _ingested_at then send_ingested_at
            else _ingested_at
        end as _last_ingested_at,
        {{ stamp }} as _built_at
    from matched

)

select * from final
