{#- The first row of each value of `key` in `relation`, in `order_by` order, with `columns`.
    Most keys have one row: those pass as they are, and only the keys with several rows are
    ranked, so the sort runs on a few rows instead of all of them (a window over every row costs
    more than the rest of the query). `where` (optional) is a condition choosing whole keys,
    never single rows; it is evaluated once. `order_by` and `where` refer to the relation as
    `keyed`; a multi-line `order_by` is written unindented. -#}
{% macro first_row_per_key(relation, key, order_by, columns, where=none) -%}
    with
    {% if where -%}
    selected as (

        select keyed.* from {{ relation }} as keyed
        where {{ where }}

    ),
    {%- set relation = 'selected' -%}
    {%- endif %}

    repeated_keys as (

        select keyed.{{ key }}
        from {{ relation }} as keyed
        group by keyed.{{ key }}
        having count(*) > 1

    )

    select
        {%- for column in columns %}
        keyed.{{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ relation }} as keyed
    where not exists (
        select 1 from repeated_keys
        where repeated_keys.{{ key }} = keyed.{{ key }}
    )

    union all

    select
        {%- for column in columns %}
        ranked.{{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from (
        select
            {%- for column in columns %}
            keyed.{{ column }},
            {%- endfor %}
            row_number() over (
                partition by keyed.{{ key }}
                order by
                    {{ order_by | indent(20) }}
            ) as key_rank
        from {{ relation }} as keyed
        where exists (
            select 1 from repeated_keys
            where repeated_keys.{{ key }} = keyed.{{ key }}
        )
    ) as ranked
    where ranked.key_rank = 1
{%- endmacro %}
