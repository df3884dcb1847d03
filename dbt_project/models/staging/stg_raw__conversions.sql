with

deduplicated as (

    {{ deduplicate_events(
        source('raw', 'raw_conversions'),
        columns=['event_id', 'message_id', 'kind', 'value', 'currency', 'device_os', 'occurred_at',
                 '_ingested_at']
    ) }}

),

renamed as (

    select
        -- ids
        event_id,
        message_id,

        -- conversion
        kind,
        value,
        currency,
        device_os,

        -- timestamps (UTC)
        occurred_at,

        -- lineage
        _ingested_at

    from deduplicated

)

select * from renamed
