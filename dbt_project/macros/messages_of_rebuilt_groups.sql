{#- The fct_messages rows an incremental mart over them recomputes its rows from, its rows being
    keyed by `key_columns` (a period, a destination: one name or a list): all of them on a full
    refresh; on an incremental run, those sharing their key with a message fct_messages rebuilt
    since the model last ran (its rows stamped since, so the model's post-hook is
    record_build_state(upstream=['fct_messages'])) or, with `new_conversions`, with a message
    having a conversion ingested after the cutoff (macro incremental_cutoff): a conversion
    rebuilds no message, so it is looked for on its own. -#}
{% macro messages_of_rebuilt_groups(key_columns, new_conversions=false) -%}
    {%- set keys = [key_columns] if key_columns is string else key_columns -%}
    select * from {{ ref('fct_messages') }}
    {% if is_incremental() -%}
    where
        ({{ keys | join(', ') }}) in (
            {#- the rows stamped since are the table's last ones: the scan skips the rest #}
            select {{ keys | join(', ') }}
            from {{ ref('fct_messages') }}
            where _built_at > {{ consumed_through() }}
            {%- if new_conversions %}
            union
            select {{ keys | join(', ') }}
            from {{ ref('fct_messages') }}
            where message_id in (
                select recent.message_id
                from {{ source('raw', 'raw_conversions') }} as recent
                where recent._ingested_at > {{ incremental_cutoff() }}
            )
            {%- endif %}
        )
    {%- endif %}
{%- endmacro %}
