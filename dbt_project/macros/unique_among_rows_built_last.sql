{#- Generic test for the incremental models that stamp each row with `_built_at`
    and replace rows by delete+insert on `column_name`: no value repeats among the rows the latest
    run built. Older rows were tested by the run that built them, and delete+insert removed every
    older row sharing a key with the new ones, so the whole table stays unique without grouping
    millions of keys on every incremental run; a full refresh stamps, and so tests, every row. -#}
{% test unique_among_rows_built_last(model, column_name) %}
    select
        {{ column_name }} as unique_field,
        count(*) as n_records
    from {{ model }}
    where
        {{ column_name }} is not null
        and _built_at = (select max(latest._built_at) from {{ model }} as latest)
    group by {{ column_name }}
    having count(*) > 1
{% endtest %}
