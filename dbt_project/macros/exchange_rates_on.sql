{#- The exchange rate into the reporting currency (var reporting_currency) of every distinct
    (currency, amount_date) of `amounts`: the rate of seed exchange_rates dated last on or before
    the day (rate dates skip weekends and holidays); 1 for the reporting currency itself, with no
    fx_rate_date; NULL when the seed has no rate that early, or none for the currency. Looked up
    per currency and day, so the range join runs on a few rows, not on every amount. -#}
{% macro exchange_rates_on(amounts) -%}
    select
        days.currency,
        days.amount_date,
        case
            when days.currency = '{{ var("reporting_currency") }}'
                then cast(1 as decimal(20, 12))
            else rates.rate
        end as fx_rate,
        rates.rate_date as fx_rate_date
    from (
        select distinct
            currency,
            amount_date
        from {{ amounts }}
    ) as days
    left join (
        select
            currency,
            rate_date,
            rate,
            lead(rate_date) over (partition by currency order by rate_date) as next_rate_date
        from {{ ref('exchange_rates') }}
    ) as rates
        on
            days.currency = rates.currency
            and days.currency <> '{{ var("reporting_currency") }}'
            and days.amount_date >= rates.rate_date
            and (rates.next_rate_date is null or days.amount_date < rates.next_rate_date)
{%- endmacro %}
