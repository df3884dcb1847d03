{#- A custom schema (marts) is used as-is on PostgreSQL, so BI tools find `marts.fct_messages`;
    DuckDB keeps every relation in the target schema (one file, one schema, simple), and so does
    Spark (the database of DLRW_WAREHOUSE_URL: several data dirs can share one server). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none or target.type in ('duckdb', 'spark') -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
