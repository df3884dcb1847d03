{#- An amount in the reporting currency: money(amount) times `fx_rate`, rounded to money's six
    decimals (half away from zero on both warehouses). The factors are widened first: DuckDB keeps
    DECIMAL(18) products at 18 digits and would overflow. NULL without a rate. -#}
{% macro convert_money(amount, fx_rate) -%}
    {{ money(
        'cast(' ~ money(amount) ~ ' as decimal(38, 6)) * cast(' ~ fx_rate ~ ' as decimal(38, 12))'
    ) }}
{%- endmacro %}
