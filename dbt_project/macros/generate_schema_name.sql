{#- A custom schema (marts) is used as-is on PostgreSQL, so BI tools find `marts.fct_messages`;
    DuckDB keeps every relation in the target schema (one file, one schema, simple). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none or target.type == 'duckdb' -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
