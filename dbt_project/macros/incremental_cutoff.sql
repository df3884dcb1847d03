{#- For an incremental run: the newest `column` already built minus the lookback window, as a
    timestamp literal (a literal lets the warehouse prune raw-table scans). Raw rows ingested
    after it are the ones whose messages and periods get recomputed. -#}
{% macro incremental_cutoff(column='_last_ingested_at') -%}
    {%- set lookback_hours = var('lookback_hours', 72) | int -%}
    {%- if execute -%}
        {%- set result = run_query('select max(' ~ column ~ ') from ' ~ this) -%}
        {%- set newest = result.columns[0].values()[0] -%}
    {%- else -%}
        {%- set newest = none -%}
    {%- endif -%}
    {%- if newest is none -%}
        cast('1900-01-01 00:00:00' as timestamp)
    {%- else -%}
        cast('{{ (newest - modules.datetime.timedelta(hours=lookback_hours)).strftime('%Y-%m-%d %H:%M:%S.%f') }}' as timestamp)
    {%- endif -%}
{%- endmacro %}
