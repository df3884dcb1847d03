{#- One row per event_id from a relation that may hold the same event twice (at-least-once
    delivery): the copy loaded first wins, so the choice never changes as more copies arrive.
    `columns`: the columns to keep (the raw payload is large, so name them).
    `where`: a condition on `keyed` (the relation) choosing which event_ids to keep. It must select
    whole event_ids (e.g. `keyed.event_id in (...)`), never single copies, or a later copy could
    win. -#}
{% macro deduplicate_events(relation, columns, where=none) -%}
    {{ first_row_per_key(
        relation, 'event_id', copy_order('keyed'), columns, where=where
    ) }}
{%- endmacro %}

{#- The order of an event's copies, first loaded first (`alias`: the relation holding them). -#}
{% macro copy_order(alias) -%}
    {{ alias }}._ingested_at, {{ alias }}._topic, {{ alias }}._partition, {{ alias }}._offset
{%- endmacro %}
