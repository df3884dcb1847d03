with

source as (

    select * from {{ source('raw', 'raw_conversions') }}

),

deduplicated as (

    {{ deduplicate_events('source') }}

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
