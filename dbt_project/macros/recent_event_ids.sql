{#- The event_ids of a raw relation with a copy ingested after `cutoff`: an incremental run
    filters raw rows by _ingested_at first, then deduplicates only these ids (all their copies,
    so the first-loaded copy still wins). -#}
{% macro recent_event_ids(relation, cutoff) -%}
    select recent.event_id
    from {{ relation }} as recent
    where recent._ingested_at > {{ cutoff }}
{%- endmacro %}
