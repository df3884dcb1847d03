with

deduplicated as (

    {{ deduplicate_events(
        source('raw', 'raw_sends'),
        columns=['event_id', 'message_id', 'provider', 'provider_message_id', 'campaign_id',
                 'sender_id', 'destination_hash', 'country', 'mcc_mnc', 'route_id', 'route_tier',
                 'segments', 'encoding', 'price', 'currency', 'submitted_at', '_ingested_at']
    ) }}

),

renamed as (

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

    from deduplicated

)

select * from renamed
