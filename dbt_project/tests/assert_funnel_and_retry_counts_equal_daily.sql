-- Rule: no message is lost or counted twice by a device OS bucket: per day x country
-- x operator, sent and delivered in agg_campaign_funnel and agg_operator_retry_daily equal
-- agg_deliverability_daily's.

with

marts as (

    select 'funnel' as mart
    union all
    select 'retry' as mart

),

counts as (

    select
        'funnel' as mart,
        period_date,
        country,
        mcc_mnc,
        operator_name,
        sent,
        delivered
    from {{ ref('agg_campaign_funnel') }}
    union all
    select
        'retry' as mart,
        period_date,
        country,
        mcc_mnc,
        operator_name,
        sent,
        delivered
    from {{ ref('agg_operator_retry_daily') }}
    union all
    -- the daily counts once against each of the two marts
    select
        marts.mart,
        daily.period_date,
        daily.country,
        daily.mcc_mnc,
        daily.operator_name,
        -daily.sent as sent,
        -daily.delivered as delivered
    from {{ ref('agg_deliverability_daily') }} as daily
    cross join marts

)

select
    mart,
    period_date,
    country,
    mcc_mnc,
    operator_name,
    sum(sent) as sent_difference,
    sum(delivered) as delivered_difference
from counts
group by
    mart,
    period_date,
    country,
    mcc_mnc,
    operator_name
having sum(sent) != 0 or sum(delivered) != 0
