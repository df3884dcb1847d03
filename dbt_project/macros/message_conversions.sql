{#- Per message of `messages` (a relation with message_id), one row if it has a conversion: its
    device OS (that of its first conversion by occurred_at, then event_id; 'unknown' when not
    reported, or reported as 'all', the name of a segment's total row), how many conversions it
    has, their value in the reporting currency (a value without a rate is left out: dbt test
    assert_amounts_have_exchange_rates reports it) and the newest _ingested_at among them. Every
    conversion counts, deduplicated over all its copies; a full refresh reads them all. -#}
{% macro message_conversions(messages) -%}
    with

    conversions as (

        {{ deduplicate_events(
            source('raw', 'raw_conversions'),
            columns=['event_id', 'message_id', 'value', 'currency', 'device_os', 'occurred_at',
                     '_ingested_at'],
            where='keyed.event_id in (select of_messages.event_id from '
                ~ source('raw', 'raw_conversions') ~ ' as of_messages where of_messages.message_id'
                ~ ' in (select converting.message_id from ' ~ messages ~ ' as converting))'
                if is_incremental() else none
        ) }}

    ),

    conversion_days as (

        select
            currency,
            cast(occurred_at as date) as amount_date
        from conversions

    ),

    fx_rates as (

        {{ exchange_rates_on('conversion_days') }}

    ),

    ranked as (

        select
            conversions.message_id,
            conversions.device_os,
            conversions._ingested_at,
            {{ convert_money('conversions.value', 'fx_rates.fx_rate') }} as conversion_value,
            row_number() over (
                partition by conversions.message_id
                order by conversions.occurred_at, conversions.event_id
            ) as conversion_order
        from conversions
        left join fx_rates
            on
                conversions.currency = fx_rates.currency
                and cast(conversions.occurred_at as date) = fx_rates.amount_date

    )

    select
        message_id,
        max(case when conversion_order = 1 then coalesce(nullif(device_os, 'all'), 'unknown') end)
            as device_os,
        count(*) as conversions,
        sum(conversion_value) as conversion_value,
        max(_ingested_at) as _last_ingested_at
    from ranked
    group by message_id
{%- endmacro %}
