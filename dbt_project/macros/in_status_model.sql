{#- Generic test: every non-null value of the column is a status of the seed `statuses`
    (only its final ones with final_only), or one of `also`. -#}
{% test in_status_model(model, column_name, final_only=false, also=[]) %}
select {{ column_name }} as unexpected_status
from {{ model }}
where
    {{ column_name }} is not null
    and {{ column_name }} not in (
        select statuses.status from {{ ref('statuses') }} as statuses
        {% if final_only %}where statuses.is_final{% endif %}
    )
    {% if also %}and {{ column_name }} not in {{ status_list(also) }}{% endif %}
{% endtest %}
