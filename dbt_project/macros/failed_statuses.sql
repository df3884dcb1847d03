{#- Final statuses that count as failed (docs/design.md metrics); UNKNOWN is final but not failed. -#}
{% macro failed_statuses() -%}
    {{ return(['UNDELIVERABLE', 'EXPIRED', 'REJECTED', 'DELETED']) }}
{%- endmacro %}
