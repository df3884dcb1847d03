-- Delivered messages that converted, per UTC day of submission x segment (country x mcc_mnc x
-- operator x route tier) x device OS (that of the message's first conversion), with their
-- conversions and what they brought: the daily rows fct_conversions_by_segment sums. Incremental
-- runs delete and rebuild every day holding a message rebuilt since this model last ran or a
-- conversion ingested after the cutoff (macro incremental_cutoff), as agg_campaign_funnel does.

with

messages as (

    {{ messages_of_rebuilt_groups('submitted_date', new_conversions=true) }}

),

-- per message with a conversion: its device OS, and what its conversions brought
message_conversions as (

    {{ message_conversions('messages') }}

),

aggregated as (

    select
        messages.submitted_date as period_date,
        messages.country,
        messages.mcc_mnc,
        messages.operator_name,
        messages.route_tier,
        message_conversions.device_os,
        count(*) as converted_messages,
        sum(message_conversions.conversions) as conversions,
        sum(message_conversions.conversion_value) as conversion_value,
        max(
            case
                when message_conversions._last_ingested_at > messages._last_ingested_at
                    then message_conversions._last_ingested_at
                else messages._last_ingested_at
            end
        ) as _last_ingested_at
    from messages
    inner join message_conversions
        on messages.message_id = message_conversions.message_id
    where messages.is_delivered
    group by
        messages.submitted_date,
        messages.country,
        messages.mcc_mnc,
        messages.operator_name,
        messages.route_tier,
        message_conversions.device_os

),

final as (

    select
        period_date,
        country,
        mcc_mnc,
        operator_name,
        route_tier,
        device_os,
        converted_messages,
        cast(conversions as bigint) as conversions,
        conversion_value,
        _last_ingested_at
    from aggregated

)

select
    *,
    -- the stamp of the run that built the row (macro build_stamp)
    {{ build_stamp() }} as _built_at
from final
