{#- Seconds from one timestamp to another, as a double (millisecond precision). -#}
{% macro seconds_between(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('seconds_between', 'dlrw')(start_ts, end_ts)) }}
{%- endmacro %}

{% macro default__seconds_between(start_ts, end_ts) -%}
    cast(extract(epoch from ({{ end_ts }} - {{ start_ts }})) as double precision)
{%- endmacro %}

{% macro duckdb__seconds_between(start_ts, end_ts) -%}
    (date_diff('millisecond', {{ start_ts }}, {{ end_ts }}) / 1000.0)
{%- endmacro %}

{% macro spark__seconds_between(start_ts, end_ts) -%}
    (cast(unix_millis({{ end_ts }}) - unix_millis({{ start_ts }}) as double) / 1000)
{%- endmacro %}
