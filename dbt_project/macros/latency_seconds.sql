{#- Delivery latency in seconds (docs/design.md: done_at of the deciding DELIVERED receipt minus
    submitted_at), never negative: Twilio and Vonage report done times to the minute only, so
    done_at can be up to a minute before submitted_at. NULL when done_at is NULL. -#}
{% macro latency_seconds(submitted_at, done_at) -%}
    case
        when {{ done_at }} < {{ submitted_at }} then 0.0
        else {{ seconds_between(submitted_at, done_at) }}
    end
{%- endmacro %}
