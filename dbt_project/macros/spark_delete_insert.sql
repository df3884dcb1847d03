{#- dbt-spark has no delete+insert, the strategy of the incremental models. On Spark the models'
    tables are Delta tables, and delete+insert is dbt's own strategy macro dispatched to Spark: a
    MERGE that deletes every row whose key the new rows carry, then an insert of the new rows.
    A failure between the two records no build state, so the next run takes the same rows in. -#}

{#- dbt-spark validates the strategy itself (not through dispatch): accept delete+insert on Delta. -#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) -%}
    {%- if raw_strategy == 'delete+insert' and file_format == 'delta' -%}
        {{ return(raw_strategy) }}
    {%- endif -%}
    {{ return(dbt_spark.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) }}
{%- endmacro %}

{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) -%}
    {%- if strategy == 'delete+insert' -%}
        {{ return(get_incremental_delete_insert_sql({
            'target_relation': target, 'temp_relation': source, 'unique_key': unique_key,
            'dest_columns': none, 'incremental_predicates': incremental_predicates
        })) }}
    {%- endif -%}
    {{ return(dbt_spark.dbt_spark_get_incremental_sql(
        strategy, source, target, existing, unique_key, incremental_predicates
    )) }}
{%- endmacro %}

{% macro spark__get_incremental_delete_insert_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set keys = [arg_dict['unique_key']] if arg_dict['unique_key'] is string else arg_dict['unique_key'] -%}
    {%- set replaced -%}
        merge into {{ target }} as dest
        using (select distinct {{ keys | join(', ') }} from {{ source }}) as src
        on {% for key in keys %}dest.{{ key }} = src.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %}
        when matched then delete
    {%- endset -%}
    {%- do run_query(replaced) -%}
    {%- set columns = adapter.get_columns_in_relation(target) | map(attribute='quoted') | join(', ') -%}
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
{%- endmacro %}
