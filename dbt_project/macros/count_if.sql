{#- Number of rows where a condition holds, as a bigint on every warehouse. -#}
{% macro count_if(condition) -%}
    {{ return(adapter.dispatch('count_if', 'dlrw')(condition)) }}
{%- endmacro %}

{% macro default__count_if(condition) -%}
    count(case when {{ condition }} then 1 end)
{%- endmacro %}

{% macro duckdb__count_if(condition) -%}
    count_if({{ condition }})
{%- endmacro %}
