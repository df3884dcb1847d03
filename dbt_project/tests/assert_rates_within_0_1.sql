-- Rule: every rate is a share, within [0, 1] (delivery_rate, conversion_rate).

with

rates as (

    select
        'agg_deliverability_hourly' as model_name,
        delivery_rate as rate
    from {{ ref('agg_deliverability_hourly') }}
    union all
    select
        'agg_deliverability_daily' as model_name,
        delivery_rate as rate
    from {{ ref('agg_deliverability_daily') }}
    union all
    select
        'fct_conversions_by_segment' as model_name,
        conversion_rate as rate
    from {{ ref('fct_conversions_by_segment') }}

)

select * from rates
where rate < 0 or rate > 1
