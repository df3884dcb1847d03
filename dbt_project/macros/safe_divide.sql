{#- A ratio as a double, NULL when the denominator is zero. -#}
{% macro safe_divide(numerator, denominator) -%}
    {{ return(adapter.dispatch('safe_divide', 'dlrw')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__safe_divide(numerator, denominator) -%}
    (cast({{ numerator }} as double precision) / nullif({{ denominator }}, 0))
{%- endmacro %}

{% macro spark__safe_divide(numerator, denominator) -%}
    (cast({{ numerator }} as double) / nullif({{ denominator }}, 0))
{%- endmacro %}
