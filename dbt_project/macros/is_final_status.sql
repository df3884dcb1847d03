{#- True when a receipt status is final (a final receipt always beats an intermediate one). -#}
{% macro is_final_status(status_column) -%}
    ({{ status_column }} in {{ status_list(final_statuses()) }})
{%- endmacro %}
