{#- A status list as a SQL literal list: ('A', 'B'). -#}
{% macro status_list(statuses) -%}
    ({%- for status in statuses -%}'{{ status }}'{{ ', ' if not loop.last }}{%- endfor -%})
{%- endmacro %}
