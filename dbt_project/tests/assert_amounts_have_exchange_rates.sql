-- Rule: every price and conversion value has an exchange rate into the reporting currency for its
-- day (seed exchange_rates). One without is left out of the money sums: a warning, so that no
-- single event stops the build; add the missing rates to the seed and rebuild.
{{ config(severity='warn') }}

with

conversions as (

    select
        event_id,
        currency,
        cast(occurred_at as date) as amount_date
    from {{ ref('stg_raw__conversions') }}
    where value is not null

),

fx_rates as (

    {{ exchange_rates_on('conversions') }}

)

select
    'price' as amount,
    message_id as id,
    currency,
    cast(submitted_at as date) as amount_date
from {{ ref('fct_messages') }}
where price is not null and fx_rate is null

union all

select
    'conversion value' as amount,
    conversions.event_id as id,
    conversions.currency,
    conversions.amount_date
from conversions
left join fx_rates
    on
        conversions.currency = fx_rates.currency
        and conversions.amount_date = fx_rates.amount_date
where fx_rates.fx_rate is null
