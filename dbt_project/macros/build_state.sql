{#- Change tracking between incremental models (README, "Incremental builds").
    Every intermediate row carries `_built_at`, the stamp of the run that last (re)built it.
    Table `dlrw_build_state` (target schema) logs, per model and successful run, the newest stamp
    of its own rows (`built_at`) and the newest upstream stamp it had taken in
    (`consumed_through`). An incremental model takes in exactly the upstream rows stamped after its
    own `consumed_through`: what changed since it last succeeded, whatever failed in between. The
    log row is written by a post-hook, in the model's transaction, so a failed model records
    nothing and takes the same rows in again next time. -#}

{% macro build_state_relation() -%}
    {{ return(api.Relation.create(
        database=(target.database if target.database is defined else none),
        schema=target.schema, identifier='dlrw_build_state'
    )) }}
{%- endmacro %}

{#- on-run-start: the log exists before any model reads it. On Spark a Delta table: models of
    parallel threads append to it at once. -#}
{% macro create_build_state() -%}
    create table if not exists {{ build_state_relation() }} (
        model_name varchar(200) not null,
        built_at timestamp,
        consumed_through timestamp
    )
    {%- if target.type == 'spark' %} using delta{% endif %}
{%- endmacro %}

{#- A timestamp literal. -#}
{% macro timestamp_literal(value) -%}
    cast('{{ value.strftime('%Y-%m-%d %H:%M:%S.%f') }}' as timestamp)
{%- endmacro %}

{#- The first value of a one-cell query on the build-state log (none when the log is missing). -#}
{% macro build_state_value(sql) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set relation = build_state_relation() -%}
    {%- set existing = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) -%}
    {%- if existing is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(run_query(sql | replace('__STATE__', existing | string)).columns[0].values()[0]) }}
{%- endmacro %}

{#- The stamp for the rows this model builds in this run: the run's start time (UTC), or just
    after the newest stamp ever recorded when the clock is behind it, so stamps always grow. -#}
{% macro build_stamp() -%}
    {%- set stamp = run_started_at.replace(tzinfo=none) -%}
    {%- set newest = build_state_value('select max(built_at) from __STATE__') -%}
    {%- if newest is not none and newest >= stamp -%}
        {%- set stamp = newest + modules.datetime.timedelta(milliseconds=1) -%}
    {%- endif -%}
    {{ return(timestamp_literal(stamp)) }}
{%- endmacro %}

{#- The newest upstream stamp this model has taken in (the oldest possible when none yet). -#}
{% macro consumed_through() -%}
    {%- set consumed = build_state_value(
        "select max(consumed_through) from __STATE__ where model_name = '" ~ this.identifier ~ "'"
    ) -%}
    {%- if consumed is none -%}
        {{ return("cast('1900-01-01 00:00:00' as timestamp)") }}
    {%- endif -%}
    {{ return(timestamp_literal(consumed)) }}
{%- endmacro %}

{#- Post-hook: log this run of the model. `upstream`: the stamped models it takes changes from;
    `stamped`: whether its own rows carry `_built_at`. -#}
{% macro record_build_state(upstream=[], stamped=false) -%}
    insert into {{ build_state_relation() }} (model_name, built_at, consumed_through)
    select
        '{{ this.identifier }}',
        {% if stamped -%}
        (select max(own._built_at) from {{ this }} as own),
        {%- else -%}
        cast(null as timestamp),
        {%- endif %}
        {% if upstream -%}
        (
            select max(upstream.newest) from (
                {%- for name in upstream %}
                select max(_built_at) as newest from {{ ref(name) }}
                {%- if not loop.last %} union all{% endif %}
                {%- endfor %}
            ) as upstream
        )
        {%- else -%}
        cast(null as timestamp)
        {%- endif %}
{%- endmacro %}

{#- The messages whose send or status fold was (re)built since this model last ran: what an
    incremental mart over fct_messages takes in (its post-hook logs the same two upstreams). -#}
{% macro changed_message_ids() -%}
    {%- set consumed = consumed_through() -%}
    select changed_sends.message_id
    from {{ ref('int_sends') }} as changed_sends
    where changed_sends._built_at > {{ consumed }}
    union
    select changed_folds.message_id
    from {{ ref('int_message_lifecycle') }} as changed_folds
    where changed_folds._built_at > {{ consumed }}
{%- endmacro %}
