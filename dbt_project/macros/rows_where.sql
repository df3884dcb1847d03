{#- The rows of `relation` (alias `keyed`) meeting any of `conditions`, lookups by key (e.g.
    `keyed.message_id in (...)`; one or a list): `columns` of them. On DuckDB in two passes: the
    first reads only each condition's columns and `bound`, to find the oldest `bound` among the
    matches; the second reads `columns` from there on. Tables are laid out in ingestion order, so
    the wide pass skips the blocks older than the oldest match (zone maps), however long the
    history; the rows are the same. -#}
{% macro rows_where(relation, conditions, columns, bound='_ingested_at') -%}
    {%- set conditions = [conditions] if conditions is string else conditions -%}
    select
        {%- for column in columns %}
        keyed.{{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ relation }} as keyed
    where
        {% if target.type == 'duckdb' -%}
        {#- one scan per condition: an `or` of lookups is not a join DuckDB can hash #}
        keyed.{{ bound }} >= (
            select min(matched.{{ bound }}) from (
                {%- for condition in conditions %}
                select keyed.{{ bound }} from {{ relation }} as keyed
                where {{ condition }}
                {%- if not loop.last %}
                union all{% endif %}
                {%- endfor %}
            ) as matched
        )
        and {% endif -%}
        ({{ conditions | join(' or ') }})
{%- endmacro %}
