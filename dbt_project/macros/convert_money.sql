{#- An amount in the reporting currency: money(amount) times `fx_rate`, rounded to money's six
    decimals (half away from zero on both warehouses). The factors are widened first: DuckDB keeps
    DECIMAL(18) products at 18 digits and would overflow. NULL without a rate, or where the
    product would not fit DECIMAL(18, 6) (the contract bounds the amount, not the converted one;
    PostgreSQL rounds a double to 15 digits, so an amount just below the bound converts to it). -#}
{% macro convert_money(amount, fx_rate) -%}
    {%- set product = 'cast(' ~ money(amount) ~ ' as decimal(38, 6)) * cast('
        ~ fx_rate ~ ' as decimal(38, 12))' -%}
    case
        when {{ product }} < 999999999999.999999
            then cast({{ product }} as decimal(18, 6))
    end
{%- endmacro %}
