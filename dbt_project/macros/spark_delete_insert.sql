{#- dbt-spark has no delete+insert, the strategy of the incremental models. On Spark the models'
    tables are Delta tables, and delete+insert is dbt's own strategy macro dispatched to Spark:
    the new rows are written once to a Delta table beside the model's, then a MERGE deletes every
    row whose key they carry, an insert adds them and the table of new rows is dropped. dbt-spark
    hands over the new rows as a view, which the MERGE and the insert would each compute, the
    insert after the MERGE has changed a table the view may read (the model's own). A failure in
    between records no build state, so the next run takes the same rows in (and replaces the
    table). -#}

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
    {%- set keys = [arg_dict['unique_key']] if arg_dict['unique_key'] is string else arg_dict['unique_key'] -%}
    {%- set new_rows = target.incorporate(path={'identifier': target.identifier ~ '__dbt_new'}) -%}
    {%- do run_query(
        'create or replace table ' ~ new_rows ~ ' using delta as select * from '
        ~ arg_dict['temp_relation']
    ) -%}
    {%- set replaced -%}
        merge into {{ target }} as dest
        using (select distinct {{ keys | join(', ') }} from {{ new_rows }}) as src
        on {% for key in keys %}dest.{{ key }} = src.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %}
        when matched then delete
    {%- endset -%}
    {%- do run_query(replaced) -%}
    {%- set columns = adapter.get_columns_in_relation(target) | map(attribute='quoted') | join(', ') -%}
    {%- do run_query(
        'insert into ' ~ target ~ ' (' ~ columns ~ ') select ' ~ columns ~ ' from ' ~ new_rows
    ) -%}
    drop table {{ new_rows }}
{%- endmacro %}
