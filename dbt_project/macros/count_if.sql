{#- Number of rows where a condition holds, as a bigint on every warehouse. -#}
{% macro count_if(condition) -%}
    {{ return(adapter.dispatch('count_if', 'dlrw')(condition)) }}
{%- endmacro %}

{% macro default__count_if(condition) -%}
    count(case when {{ condition }} then 1 end)
{%- endmacro %}

{#- DuckDB's count_if is NULL over a group whose conditions are all NULL. -#}
{% macro duckdb__count_if(condition) -%}
    coalesce(count_if({{ condition }}), 0)
{%- endmacro %}
