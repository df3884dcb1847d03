{#- One row per event_id from a relation or CTE that may hold the same event twice (at-least-once
    delivery): the copy loaded first wins, so the choice never changes as more copies arrive. -#}
{% macro deduplicate_events(relation) -%}
    select ranked.*
    from (
        select
            events.*,
            row_number() over (
                partition by events.event_id
                order by events._ingested_at, events._topic, events._partition, events._offset
            ) as _copy_rank
        from {{ relation }} as events
    ) as ranked
    where ranked._copy_rank = 1
{%- endmacro %}
