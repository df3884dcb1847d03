-- Every deduplicated send, materialized once: receipt matching and fct_messages both read it,
-- so the deduplication of the raw sends runs once per build instead of once per reader.
-- Incremental (delete+insert on event_id): sends with a copy not built yet that was ingested after
-- the cutoff (newest built _ingested_at minus lookback_hours), deduplicated over all their copies.
-- _built_at: the stamp of the run that built the row (macro build_stamp; change tracking).

{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ record_build_state(stamped=true) }}"
    )
}}

{% set stamp = build_stamp() %}

with

{% if is_incremental() %}

sends as (

    -- the staging view deduplicates every raw send; here only the events not built yet
    {{ deduplicate_events(
        source('raw', 'raw_sends'),
        columns=['event_id', 'message_id', 'provider', 'provider_message_id', 'campaign_id',
                 'sender_id', 'destination_hash', 'country', 'mcc_mnc', 'route_id', 'route_tier',
                 'segments', 'encoding', 'price', 'currency', 'submitted_at', '_ingested_at'],
        where='keyed.event_id in (' ~ unbuilt_event_ids(
            source('raw', 'raw_sends'), this, incremental_cutoff('_ingested_at')
        ) ~ ')'
    ) }}

),

{% else %}

sends as (

    select * from {{ ref('stg_raw__sends') }}

),

{% endif %}

final as (

    select
        -- ids
        event_id,
        message_id,
        provider,
        provider_message_id,
        campaign_id,
        sender_id,
        destination_hash,

        -- routing decision
        country,
        mcc_mnc,
        route_id,
        route_tier,

        -- content and price
        segments,
        encoding,
        price,
        currency,

        -- timestamps (UTC)
        submitted_at,

        -- lineage
        _ingested_at,
        {{ stamp }} as _built_at

    from sends

)

select * from final
