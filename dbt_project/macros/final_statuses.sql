{#- The canonical final statuses (models/status.py, docs/design.md status model). -#}
{% macro final_statuses() -%}
    {{ return(['DELIVERED', 'UNDELIVERABLE', 'EXPIRED', 'REJECTED', 'DELETED', 'UNKNOWN']) }}
{%- endmacro %}
