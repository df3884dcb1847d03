-- Rule: in every aggregate row sent = delivered + failed + pending, and no_receipt and
-- unknown_final are parts of pending.

with

cells as (

    select
        'hourly' as grain,
        sent,
        delivered,
        failed,
        pending,
        no_receipt,
        unknown_final
    from {{ ref('agg_deliverability_hourly') }}
    union all
    select
        'daily' as grain,
        sent,
        delivered,
        failed,
        pending,
        no_receipt,
        unknown_final
    from {{ ref('agg_deliverability_daily') }}

)

select * from cells
where
    sent != delivered + failed + pending
    or no_receipt + unknown_final > pending
