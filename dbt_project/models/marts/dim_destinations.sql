{{
    config(
        materialized='incremental',
        unique_key='destination_hash',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ record_build_state(upstream=['fct_messages'], stamped=true) }}"
    )
}}

-- Health of each destination number (destination_hash): its messages, deliveries, latest outcome
-- and its current run of permanent failures -- the failures saying the number is dead
-- (unknown_subscriber) or refuses us (dnd_or_opt_out) since its last other known outcome, with the
-- cost spent on it since the run began. Incremental runs recompute every destination holding a
-- message rebuilt since this model last ran, from all of that destination's messages.
-- _built_at: the stamp of the run that built the row (macro build_stamp).

{% set stamp = build_stamp() %}

with

messages as (

    {{ messages_of_rebuilt_groups('destination_hash') }}

),

-- newest first: recency 1 is the destination's latest message. A run of permanent failures is
-- the permanent failures newer than the latest known outcome that is not one (a run end; pending
-- messages have no outcome yet, so they neither extend nor end a run): the messages seen before
-- the first run end, newest first, that failed permanently.
ordered as (

    select
        classified.destination_hash,
        classified.submitted_at,
        classified.outcome,
        classified.cost,
        classified.is_permanent_failure,
        row_number() over newest_first as recency,
        sum(
            case
                when classified.outcome <> 'pending' and not classified.is_permanent_failure
                    then 1
                else 0
            end
        ) over newest_first as run_ends_seen,
        sum(classified.cost) over newest_first as cost_seen
    from (
        select
            messages.destination_hash,
            messages.message_id,
            messages.submitted_at,
            messages.outcome,
            messages.cost,
            coalesce(
                messages.failure_cause in ('unknown_subscriber', 'dnd_or_opt_out'), false
            ) as is_permanent_failure
        from messages
    ) as classified
    window newest_first as (
        partition by classified.destination_hash
        order by classified.submitted_at desc, classified.message_id desc
        rows between unbounded preceding and current row
    )

),

final as (

    select
        destination_hash,
        count(*) as messages,
        {{ count_if("outcome = 'delivered'") }} as delivered,
        {{ count_if("outcome = 'failed'") }} as failed,
        sum(cost) as cost,
        min(submitted_at) as first_submitted_at,
        max(submitted_at) as last_submitted_at,
        max(case when recency = 1 then outcome end) as last_outcome,
        {{ count_if("is_permanent_failure and run_ends_seen = 0") }}
            as consecutive_permanent_failures,
        min(case when is_permanent_failure and run_ends_seen = 0 then submitted_at end)
            as first_permanent_failure_at,
        -- costs are never negative (macro money), so the cost seen is largest at the run's
        -- oldest message: what the messages from there to the latest cost
        coalesce(max(case when is_permanent_failure and run_ends_seen = 0 then cost_seen end), 0)
            as cost_since_first_permanent_failure,
        {{ stamp }} as _built_at
    from ordered
    group by destination_hash

)

select * from final
