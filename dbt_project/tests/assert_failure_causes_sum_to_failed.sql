-- Rule: in every daily cell, failed messages summed over their causes = failed in
-- agg_deliverability_daily (a cell without failures has no cause rows).

with

causes as (

    select
        period_date,
        country,
        mcc_mnc,
        operator_name,
        route_tier,
        provider,
        sum(messages) as messages
    from {{ ref('agg_failure_causes_daily') }}
    group by
        period_date,
        country,
        mcc_mnc,
        operator_name,
        route_tier,
        provider

),

compared as (

    select
        daily.period_date,
        daily.country,
        daily.mcc_mnc,
        daily.operator_name,
        daily.route_tier,
        daily.provider,
        daily.failed,
        coalesce(causes.messages, 0) as messages
    from {{ ref('agg_deliverability_daily') }} as daily
    full outer join causes
        on
            daily.period_date = causes.period_date
            and daily.country = causes.country
            and daily.mcc_mnc is not distinct from causes.mcc_mnc
            and daily.operator_name = causes.operator_name
            and daily.route_tier = causes.route_tier
            and daily.provider = causes.provider

)

select * from compared
where coalesce(failed, 0) != messages
