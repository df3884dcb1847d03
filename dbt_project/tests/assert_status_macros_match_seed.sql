-- The SQL macros' status lists (final_statuses, failed_statuses) say what the seed `statuses` says.
select
    status,
    is_final,
    outcome
from {{ ref('statuses') }}
where
    is_final <> (status in {{ status_list(final_statuses()) }})
    or (outcome = 'failed') <> (status in {{ status_list(failed_statuses()) }})
