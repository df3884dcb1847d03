{#- Start of the UTC period ('hour' -> timestamp, 'day' -> date) a timestamp falls in.
    Raw timestamps are UTC without time zone, so truncation means the same on every warehouse. -#}
{% macro period_start(grain, ts) -%}
    {{ return(adapter.dispatch('period_start', 'dlrw')(grain, ts)) }}
{%- endmacro %}

{% macro default__period_start(grain, ts) -%}
    {%- if grain == 'day' -%}
        cast(date_trunc('day', {{ ts }}) as date)
    {%- else -%}
        date_trunc('{{ grain }}', {{ ts }})
    {%- endif -%}
{%- endmacro %}

{% macro duckdb__period_start(grain, ts) -%}
    {%- if grain == 'day' -%}
        cast({{ ts }} as date)
    {%- else -%}
        cast(date_trunc('{{ grain }}', {{ ts }}) as timestamp)
    {%- endif -%}
{%- endmacro %}
