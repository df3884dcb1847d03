-- The campaign funnel per UTC day of submission x campaign x country x mcc_mnc x operator x
-- device OS: sent, delivered, converted, what the conversions brought and what sending cost. A
-- message's device OS is that of its first conversion; without one it is 'unknown', so every
-- message counts once. Converted and conversion value count delivered messages only, as in
-- fct_conversions_by_segment. Incremental runs delete and rebuild every day holding a message
-- rebuilt since this model last ran or a conversion ingested after the cutoff (macro
-- incremental_cutoff): conversions change no message, so they are looked for on their own.

with

messages as (

    {{ messages_of_rebuilt_groups('submitted_date', new_conversions=true) }}

),

-- per message with a conversion: its device OS, and what its conversions brought
message_conversions as (

    {{ message_conversions('messages') }}

),

funnel_messages as (

    select
        messages.submitted_date,
        messages.campaign_id,
        messages.country,
        messages.mcc_mnc,
        messages.operator_name,
        coalesce(message_conversions.device_os, 'unknown') as device_os,
        messages.is_delivered,
        messages.is_delivered and message_conversions.message_id is not null as is_converted,
        message_conversions.conversion_value,
        messages.cost,
        case
            when message_conversions._last_ingested_at > messages._last_ingested_at
                then message_conversions._last_ingested_at
            else messages._last_ingested_at
        end as _last_ingested_at
    from messages
    left join message_conversions
        on messages.message_id = message_conversions.message_id

),

aggregated as (

    select
        submitted_date as period_date,
        campaign_id,
        country,
        mcc_mnc,
        operator_name,
        device_os,
        count(*) as sent,
        {{ count_if('is_delivered') }} as delivered,
        {{ count_if('is_converted') }} as converted,
        coalesce(sum(case when is_converted then conversion_value end), 0) as conversion_value,
        sum(cost) as cost,
        max(_last_ingested_at) as _last_ingested_at
    from funnel_messages
    group by
        submitted_date,
        campaign_id,
        country,
        mcc_mnc,
        operator_name,
        device_os

),

final as (

    select
        period_date,
        campaign_id,
        country,
        mcc_mnc,
        operator_name,
        device_os,
        sent,
        delivered,
        converted,
        conversion_value,
        cost,
        {{ safe_divide('cost', 'delivered') }} as cost_per_delivered,
        {{ safe_divide('cost', 'converted') }} as cost_per_conversion,
        _last_ingested_at
    from aggregated

)

select
    *,
    -- the stamp of the run that built the row (macro build_stamp)
    {{ build_stamp() }} as _built_at
from final
