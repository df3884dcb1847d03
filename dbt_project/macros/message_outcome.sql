{#- The status fold, the one definition every mart uses: a message's final status ->
    'delivered' | 'failed' | 'pending'. No final status yet (including no receipt at all) and a
    final UNKNOWN are both 'pending' -- nobody knows the outcome -- so that
    sent = delivered + failed + pending holds in every cell. -#}
{% macro message_outcome(final_status_column) -%}
    case
        when {{ final_status_column }} = 'DELIVERED' then 'delivered'
        when {{ final_status_column }} in {{ status_list(failed_statuses()) }} then 'failed'
        else 'pending'
    end
{%- endmacro %}
