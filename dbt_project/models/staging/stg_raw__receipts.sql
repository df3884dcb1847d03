with

deduplicated as (

    {{ deduplicate_events(
        source('raw', 'raw_receipts'),
        columns=['event_id', 'provider', 'provider_message_id', 'message_id', 'status',
                 'error_code', 'mcc_mnc', 'segments_submitted', 'segments_delivered', 'price',
                 'currency', 'submitted_at', 'done_at', 'received_at', '_ingested_at']
    ) }}

),

renamed as (

    select
        -- ids; message_id is only what the provider echoed back, matching happens downstream
        event_id,
        provider,
        provider_message_id,
        message_id as reported_message_id,

        -- status; the raw payload stays in the raw table (it may contain PII)
        status,
        {{ is_final_status('status') }} as is_final,
        error_code,
        mcc_mnc,
        segments_submitted,
        segments_delivered,
        price,
        currency,

        -- timestamps (UTC)
        submitted_at,
        done_at,
        received_at,

        -- lineage
        _ingested_at

    from deduplicated

)

select * from renamed
