{#- Continuous percentile (linear interpolation) of an expression within a group; NULLs ignored.
    `fractions`: every fraction the query asks of the same expression (default just this one):
    DuckDB then computes them all in one pass, once for the query, and picks this one. -#}
{% macro percentile_cont(expression, fraction, fractions=none) -%}
    {{ return(adapter.dispatch('percentile_cont', 'dlrw')(expression, fraction, fractions or [fraction])) }}
{%- endmacro %}

{% macro default__percentile_cont(expression, fraction, fractions) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__percentile_cont(expression, fraction, fractions) -%}
    quantile_cont({{ expression }}, [{{ fractions | join(', ') }}])[{{ fractions.index(fraction) + 1 }}]
{%- endmacro %}
