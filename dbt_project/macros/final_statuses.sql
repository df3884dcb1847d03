{#- The canonical final statuses (models/status.py, DESIGN.md status model). -#}
{% macro final_statuses() -%}
    {{ return(['DELIVERED', 'UNDELIVERABLE', 'EXPIRED', 'REJECTED', 'DELETED', 'UNKNOWN']) }}
{%- endmacro %}
