-- Every deduplicated send, materialized once: receipt matching and fct_messages both read it,
-- so the deduplication of the raw sends runs once per build instead of once per reader.
-- Incremental (delete+insert on event_id): sends with a copy ingested after the cutoff.

{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail'
    )
}}

with

sends as (

    select * from {{ ref('stg_raw__sends') }}
    {% if is_incremental() %}
    where
        event_id in (
            {{ recent_event_ids(source('raw', 'raw_sends'), incremental_cutoff('_ingested_at')) }}
        )
    {% endif %}

),

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
        _ingested_at

    from sends

)

select * from final
