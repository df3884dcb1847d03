{#- The event_ids of a raw relation with a copy the model `built` (one row per event_id, with the
    `_ingested_at` of the copy that won) has not taken in: a copy ingested after `cutoff` whose
    event is not built yet, or was built from a later-ingested copy. Raw rows committed late (with
    an older _ingested_at than rows already built) are found as long as they fall after `cutoff`.
    By default built rows ingested before the cutoff are left out of the comparison, so a late
    duplicate of an old event is taken in again (the first-loaded copy still wins: same result, a
    bit of work). With `whole_built`, every built row is compared: then, under the lookback
    contract, every copy of a returned event was ingested after the cutoff. -#}
{% macro unbuilt_event_ids(relation, built, cutoff, whole_built=false) -%}
    {#- a left join, not `not exists` with an inequality: DuckDB plans that as a slower delim join;
        `built` holds one row per event_id, so the two mean the same -#}
    select recent.event_id
    from {{ relation }} as recent
    left join (
        select
            built.event_id,
            built._ingested_at
        from {{ built }} as built
        {% if not whole_built -%}
        where built._ingested_at > {{ cutoff }}
        {%- endif %}
    ) as built_recently
        on recent.event_id = built_recently.event_id
    where
        recent._ingested_at > {{ cutoff }}
        and (
            built_recently.event_id is null
            or recent._ingested_at < built_recently._ingested_at
        )
{%- endmacro %}
