{#- Money as an exact decimal, so sums are identical whatever order rows are added in. -#}
{% macro money(expression) -%}
    cast({{ expression }} as decimal(18, 6))
{%- endmacro %}
