{#- The fct_messages rows an incremental mart over them recomputes its rows from, its rows being
    keyed by `key_columns` (a period, a destination: one name or a list): all of them on a full
    refresh; on an incremental run, those sharing their key with a message fct_messages rebuilt
    since the model last ran (its rows stamped since, so the model's post-hook is
    record_build_state(upstream=['fct_messages'])) or with one the optional `{% call %}` block
    selects (changes that rebuild no message; rendered on incremental runs only). -#}
{% macro messages_of_rebuilt_groups(key_columns) -%}
    {%- set keys = [key_columns] if key_columns is string else key_columns -%}
    select * from {{ ref('fct_messages') }}
    {% if is_incremental() -%}
    where
        ({{ keys | join(', ') }}) in (
            {#- the rows stamped since are the table's last ones: the scan skips the rest #}
            select
                {%- for key in keys %}
                touched.{{ key }}{% if not loop.last %},{% endif %}
                {%- endfor %}
            from {{ ref('fct_messages') }} as touched
            where touched._built_at > {{ consumed_through() }}
            {%- if caller is defined %}
            union
            select
                {%- for key in keys %}
                called.{{ key }}{% if not loop.last %},{% endif %}
                {%- endfor %}
            from {{ ref('fct_messages') }} as called
            where called.message_id in ({{ caller() }})
            {%- endif %}
        )
    {%- endif %}
{%- endmacro %}
