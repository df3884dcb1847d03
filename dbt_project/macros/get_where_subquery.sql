{#- What a generic data test reads (its config `where`, set per folder in dbt_project.yml), so
    that tests over the growing tables read what the build changed, not the history:
    - `built_last`: the rows the model's latest run built (its newest `_built_at`). Older rows
      were tested by the run that built them, and delete+insert replaced every older row sharing
      a key with the new ones; a full refresh stamps, and so tests, every row.
    - `ingested_in_lookback`: raw rows ingested within var('lookback_hours') before the newest
      one, those an incremental build takes in; every row on `dlrw build --full-refresh`.
    Any other `where` filters as dbt's own macro does. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where == 'built_last' -%}
        {%- set where = '_built_at = (select max(latest._built_at) from ' ~ relation ~ ' as latest)' -%}
    {%- elif where == 'ingested_in_lookback' -%}
        {%- set newest = '(select max(latest._ingested_at) from ' ~ relation ~ ' as latest)' -%}
        {%- set where = '' if flags.FULL_REFRESH else '_ingested_at > ' ~ dbt.dateadd(
            'hour', -(var('lookback_hours') | int), newest
        ) -%}
    {%- endif -%}
    {%- if where -%}
        {{ return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}
