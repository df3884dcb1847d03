{#- Money as an exact decimal, so sums are identical whatever order rows are added in. An amount
    outside the contract (finite, 0 to below 1e11: models/events.py MAX_AMOUNT) is NULL: ingest
    refuses one now, but a store written before the bound may hold one, and no event may stop
    the build. -#}
{% macro money(expression) -%}
    case
        when {{ expression }} >= 0 and {{ expression }} < 1e11
            then cast({{ expression }} as decimal(18, 6))
    end
{%- endmacro %}
