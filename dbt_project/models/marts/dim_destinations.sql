{{
    config(
        materialized='incremental',
        unique_key='destination_hash',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ record_build_state(upstream=['int_sends', 'int_message_lifecycle']) }}"
    )
}}

-- Health of each destination number (destination_hash): its messages, deliveries, latest outcome
-- and its current run of permanent failures -- the failures saying the number is dead
-- (unknown_subscriber) or refuses us (dnd_or_opt_out) since its last other known outcome, with the
-- cost spent on it since the run began. Incremental runs recompute every destination holding a
-- message rebuilt since this model last ran, from all of that destination's messages.

with

messages as (

    {{ messages_of_rebuilt_groups('destination_hash') }}

),

-- recency 1 = the destination's latest message; pending ones have no outcome yet, so they
-- neither extend nor end a run
ranked as (

    select
        messages.destination_hash,
        messages.message_id,
        messages.submitted_at,
        messages.outcome,
        messages.failure_cause,
        messages.cost,
        row_number() over (
            partition by messages.destination_hash
            order by messages.submitted_at desc, messages.message_id desc
        ) as recency,
        coalesce(
            messages.failure_cause in ('unknown_subscriber', 'dnd_or_opt_out'), false
        ) as is_permanent_failure
    from messages

),

-- the latest known outcome that is not a permanent failure ends the run before it
run_ends as (

    select
        destination_hash,
        min(
            case when outcome <> 'pending' and not is_permanent_failure then recency end
        ) as end_recency
    from ranked
    group by destination_hash

),

runs as (

    select
        ranked.destination_hash,
        count(*) as consecutive_permanent_failures,
        max(ranked.recency) as start_recency
    from ranked
    inner join run_ends
        on ranked.destination_hash = run_ends.destination_hash
    where
        ranked.is_permanent_failure
        and (run_ends.end_recency is null or ranked.recency < run_ends.end_recency)
    group by ranked.destination_hash

),

final as (

    select
        ranked.destination_hash,
        count(*) as messages,
        {{ count_if("ranked.outcome = 'delivered'") }} as delivered,
        {{ count_if("ranked.outcome = 'failed'") }} as failed,
        sum(ranked.cost) as cost,
        min(ranked.submitted_at) as first_submitted_at,
        max(ranked.submitted_at) as last_submitted_at,
        max(case when ranked.recency = 1 then ranked.outcome end) as last_outcome,
        coalesce(max(runs.consecutive_permanent_failures), 0) as consecutive_permanent_failures,
        max(case when ranked.recency = runs.start_recency then ranked.submitted_at end)
            as first_permanent_failure_at,
        coalesce(sum(case when ranked.recency <= runs.start_recency then ranked.cost end), 0)
            as cost_since_first_permanent_failure
    from ranked
    left join runs
        on ranked.destination_hash = runs.destination_hash
    group by ranked.destination_hash

)

select * from final
