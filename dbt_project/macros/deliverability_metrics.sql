{#- The deliverability metrics of a group of fct_messages rows (docs/design.md, one definition):
    sent = delivered + failed + pending; no_receipt and unknown_final are subsets of pending;
    latency is over delivered messages with a done_at. -#}
{% macro deliverability_metrics() -%}
    count(*) as sent,
    {{ count_if("outcome = 'delivered'") }} as delivered,
    {{ count_if("outcome = 'failed'") }} as failed,
    {{ count_if("outcome = 'pending'") }} as pending,
    {{ count_if("not has_receipt") }} as no_receipt,
    {{ count_if("final_status = 'UNKNOWN'") }} as unknown_final,
    {{ safe_divide(count_if("outcome = 'delivered'"), 'count(*)') }} as delivery_rate,
    {{ percentile_cont('latency_s', 0.5, fractions=[0.5, 0.95]) }} as latency_p50_s,
    {{ percentile_cont('latency_s', 0.95, fractions=[0.5, 0.95]) }} as latency_p95_s,
    sum(cost) as cost,
    max(_last_ingested_at) as _last_ingested_at
{%- endmacro %}
