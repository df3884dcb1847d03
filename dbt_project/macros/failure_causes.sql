{#- The failure cause of every key row in `relation` (provider, route_id, error_code,
    final_status, each a failed message's), from seed failure_codes: an empty key column matches
    any value, and the matching row that sets route_id, then error_code, then status, then
    provider wins (a route's own numbering beats its provider's, a code beats what the status
    says). No matching row: 'unknown', permanence unknown (NULL). -#}
{% macro failure_causes(relation) -%}
    select
        ranked.provider,
        ranked.route_id,
        ranked.error_code,
        ranked.final_status,
        coalesce(ranked.cause, 'unknown') as failure_cause,
        ranked.permanent as is_permanent_failure
    from (
        select
            failed.provider,
            failed.route_id,
            failed.error_code,
            failed.final_status,
            codes.cause,
            codes.permanent,
            row_number() over (
                partition by failed.provider, failed.route_id, failed.error_code, failed.final_status
                order by
                    case when codes.route_id is null then 1 else 0 end,
                    case when codes.error_code is null then 1 else 0 end,
                    case when codes.status is null then 1 else 0 end,
                    case when codes.provider is null then 1 else 0 end
            ) as precedence
        from {{ relation }} as failed
        left join {{ ref('failure_codes') }} as codes
            on (codes.provider is null or codes.provider = failed.provider)
            and (codes.route_id is null or codes.route_id = failed.route_id)
            and (codes.error_code is null or codes.error_code = failed.error_code)
            and (codes.status is null or codes.status = failed.final_status)
    ) as ranked
    where ranked.precedence = 1
{%- endmacro %}
