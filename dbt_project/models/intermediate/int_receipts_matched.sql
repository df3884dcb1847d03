-- Every deduplicated receipt with the message it belongs to: by message_id when the provider
-- echoed one we know, else by provider + provider_message_id. Receipts matching no send are kept
-- as orphans (message_id NULL) so nothing disappears; a later send re-matches them. Where several
-- sends share the id (reuse), the one in use when the receipt came wins (ranked, below).
-- Raw copies are matched as they are: one ranking per receipt picks its first-loaded copy and
-- that copy's send, and only receipts with several copies or candidate sends are ranked.
-- Only the columns the status fold and `dlrw check` need are kept (the raw table keeps the rest).
-- Incremental (delete+insert on event_id): receipts with a copy not built yet that was ingested
-- after the cutoff (newest built _ingested_at minus lookback_hours), and every receipt a send built
-- since this model last ran may claim, are matched again. The raw copies of the first are read
-- only after the cutoff: by the lookback contract, older copies were all built already.
-- _built_at: the stamp of the run that built the row (macro build_stamp; change tracking).

{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ record_build_state(upstream=['int_sends'], stamped=true) }}"
    )
}}

{% set stamp = build_stamp() %}

{#- a raw receipt's columns here: what the status fold needs and the copy's lineage -#}
{% set raw_receipt_columns -%}
    events.event_id,
    events.provider,
    events.provider_message_id,
    events.message_id as reported_message_id,
    events.status,
    {{ is_final_status('events.status') }} as is_final,
    events.error_code,
    events.mcc_mnc,
    events.done_at,
    events.received_at,
    events._ingested_at,
    events._topic,
    events._partition,
    events._offset
{%- endset %}

{#- the match of a receipt: its first-loaded copy (macro copy_order), and of that copy's candidate
    sends the latest submitted at or before the receipt was received (the id's use at that time),
    else the earliest submitted after it; ties by message_id, then event_id -#}
{% set match_order -%}
{{ copy_order('keyed') }},
case when keyed.send_submitted_at <= keyed.received_at then 0 else 1 end,
case
    when keyed.send_submitted_at <= keyed.received_at then keyed.send_submitted_at
end desc nulls last,
keyed.send_submitted_at asc,
keyed.message_id asc,
keyed.send_event_id asc
{%- endset %}

with

{% if is_incremental() %}

new_sends as (

    select * from {{ ref('int_sends') }}
    where _built_at > {{ consumed_through() }}

),

{% set cutoff = incremental_cutoff('_ingested_at') %}

-- every raw copy, whatever its age, of the receipts a new send may claim: by the message_id they
-- echo or by their provider id (copies of one receipt share both)
claimed as (

    select
        {{ raw_receipt_columns }}
    from (
        {{ rows_where(
            source('raw', 'raw_receipts'),
            ['keyed.message_id in (select new_sends.message_id from new_sends)',
             '(keyed.provider, keyed.provider_message_id) in'
             ~ ' (select new_sends.provider, new_sends.provider_message_id from new_sends)'],
            columns=['event_id', 'provider', 'provider_message_id', 'message_id', 'status',
                     'error_code', 'mcc_mnc', 'done_at', 'received_at', '_ingested_at', '_topic',
                     '_partition', '_offset']
        ) }}
    ) as events

),

-- the receipts to match again from their raw copies: those claimed (all their copies) and those
-- with a copy not built yet (all their copies are after the cutoff then)
receipts as (

    select
        {{ raw_receipt_columns }}
    from {{ source('raw', 'raw_receipts') }} as events
    where
        events._ingested_at > {{ cutoff }}
        and events.event_id in (
            {{ unbuilt_event_ids(source('raw', 'raw_receipts'), this, cutoff, whole_built=true) }}
        )
    union
    select * from claimed

),

-- the sends those receipts name, by message_id or by provider id: joined below instead of all of
-- int_sends, whose hash table would cost more than the whole match
named_sends as (

    {{ rows_where(
        ref('int_sends'),
        ['keyed.message_id in (select receipts.reported_message_id from receipts)',
         '(keyed.provider, keyed.provider_message_id) in'
         ~ ' (select receipts.provider, receipts.provider_message_id from receipts)'],
        columns=['event_id', 'message_id', 'provider', 'provider_message_id', 'submitted_at',
                 '_ingested_at']
    ) }}

),

{% set sends = 'named_sends' %}

{% else %}

{% set sends = ref('int_sends') %}

receipts as (

    select
        {{ raw_receipt_columns }}
    from {{ source('raw', 'raw_receipts') }} as events

),

{% endif %}

-- every send a receipt may belong to: those with the message_id it echoes, else those of its
-- provider with its provider_message_id (a provider may reuse an id for a later message)
candidates as (

    select
        receipts.event_id,
        receipts.provider,
        coalesce(by_message_id.message_id, by_provider_id.message_id) as message_id,
        case
            when by_message_id.message_id is not null then 'message_id'
            when by_provider_id.message_id is not null then 'provider_message_id'
        end as matched_by,
        receipts.status,
        receipts.is_final,
        receipts.error_code,
        receipts.mcc_mnc,
        receipts.done_at,
        receipts.received_at,
        receipts._ingested_at,
        receipts._topic,
        receipts._partition,
        receipts._offset,
        coalesce(by_message_id._ingested_at, by_provider_id._ingested_at) as send_ingested_at,
        coalesce(by_message_id.submitted_at, by_provider_id.submitted_at) as send_submitted_at,
        coalesce(by_message_id.event_id, by_provider_id.event_id) as send_event_id
    from receipts
    -- on a full refresh int_sends twice rather than through one CTE, which would be stored whole
    left join {{ sends }} as by_message_id
        on receipts.reported_message_id = by_message_id.message_id
    left join {{ sends }} as by_provider_id
        on
            by_message_id.message_id is null
            and receipts.provider = by_provider_id.provider
            and receipts.provider_message_id = by_provider_id.provider_message_id

),

-- one row per receipt, in match_order (above)
matched as (

    {{ first_row_per_key(
        'candidates', 'event_id', match_order,
        columns=['event_id', 'provider', 'message_id', 'matched_by', 'status', 'is_final',
                 'error_code', 'mcc_mnc', 'done_at', 'received_at', '_ingested_at',
                 'send_ingested_at']
    ) }}

),

final as (

    select
        *,
        message_id is null as is_orphan,
        -- lineage: the newest raw row (the receipt or its send) behind this match
        case
            when send_ingested_at > _ingested_at then send_ingested_at
            else _ingested_at
        end as _last_ingested_at,
        {{ stamp }} as _built_at
    from matched

)

select * from final
