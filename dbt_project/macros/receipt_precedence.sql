{#- Order of a message's receipts, best first, for picking the one that decides its status:
    final before intermediate, then the latest done_at (NULL counts as oldest), then the latest
    received_at, then the highest event_id so ties never depend on arrival order. -#}
{% macro receipt_precedence(
    is_final='is_final', done_at='done_at', received_at='received_at', event_id='event_id'
) -%}
    case when {{ is_final }} then 1 else 0 end desc,
    {{ done_at }} desc nulls last,
    {{ received_at }} desc,
    {{ event_id }} desc
{%- endmacro %}

{#- The same order as one ascending sort key (the greatest key is the deciding receipt), for
    arg_max: final first, then a done_at at all, then done_at, received_at, event_id. -#}
{% macro receipt_precedence_key(
    is_final='is_final', done_at='done_at', received_at='received_at', event_id='event_id'
) -%}
    row(
        {{ is_final }},
        {{ done_at }} is not null,
        coalesce({{ done_at }}, cast('1900-01-01' as timestamp)),
        {{ received_at }},
        {{ event_id }}
    )
{%- endmacro %}
