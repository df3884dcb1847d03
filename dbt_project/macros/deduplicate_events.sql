{#- One row per event_id from a relation that may hold the same event twice (at-least-once
    delivery): the copy loaded first wins, so the choice never changes as more copies arrive.
    `columns`: the columns to keep (default all; the raw payload is large, so name them).
    `where`: a condition on `events` choosing which event_ids to keep. It must select whole
    event_ids (e.g. `events.event_id in (...)`), never single copies, or a later copy could win. -#}
{% macro deduplicate_events(relation, columns=none, where=none) -%}
    select ranked.*
    from (
        select
            {% if columns -%}
            {%- for column in columns %}events.{{ column }},{% endfor %}
            {%- else -%}
            events.*,
            {%- endif %}
            row_number() over (
                partition by events.event_id
                order by events._ingested_at, events._topic, events._partition, events._offset
            ) as _copy_rank
        from {{ relation }} as events
        {% if where -%}
        where {{ where }}
        {%- endif %}
    ) as ranked
    where ranked._copy_rank = 1
{%- endmacro %}
