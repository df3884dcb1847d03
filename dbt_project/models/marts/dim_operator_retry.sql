-- Per operator, whether its network most likely retries A2P messages to phones that are off,
-- from the receipts alone (agg_operator_retry_daily over all days): phones that are off either
-- come back to a late delivery (the network retried) or fail absent_subscriber at once (it did
-- not). Rebuilt whole each run from the daily rows, never from messages.

with

daily as (

    select * from {{ ref('agg_operator_retry_daily') }}

),

operators as (

    select
        country,
        mcc_mnc,
        operator_name,
        min(period_date) as first_date,
        max(period_date) as last_date,
        sum(sent) as sent,
        sum(delivered) as delivered,
        sum(delivered_late) as delivered_late,
        sum(absent_subscriber) as absent_subscriber
    from daily
    group by
        country,
        mcc_mnc,
        operator_name

),

final as (

    select
        country,
        mcc_mnc,
        operator_name,
        first_date,
        last_date,
        cast(sent as bigint) as sent,
        cast(delivered as bigint) as delivered,
        cast(delivered_late as bigint) as delivered_late,
        cast(absent_subscriber as bigint) as absent_subscriber,
        cast(delivered_late + absent_subscriber as bigint) as phone_off_evidence,
        {{ safe_divide('absent_subscriber', 'sent') }} as absent_subscriber_share,
        {{ safe_divide('delivered_late', 'delivered') }} as delivered_late_share,
        {{ safe_divide('absent_subscriber', 'delivered_late + absent_subscriber') }}
            as no_retry_share,
        case
            -- fewer phones found off than this cannot tell the two behaviours apart
            when delivered_late + absent_subscriber < 10 then 'too_little_evidence'
            when absent_subscriber > delivered_late then 'no_retry'
            else 'retries'
        end as retry_verdict
    from operators

)

select
    *,
    -- the stamp of the run that built the row (macro build_stamp)
    {{ build_stamp() }} as _built_at
from final
