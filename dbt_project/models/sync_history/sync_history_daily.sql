-- Per destination and day (UTC, by the run's start): what the syncs sent and what came back.
-- Dry runs send nothing and are left out; a day with only dry runs has no row.
select
    destination,
    cast(started_at at time zone 'UTC' as date) as sync_date,
    count(*) as runs,
    count(*) filter (where status not in ('succeeded', 'running')) as runs_not_succeeded,
    sum(profiles_changed) as profiles_sent,
    sum(profiles_accepted) as profiles_accepted,
    sum(profiles_rejected) as profiles_rejected,
    sum(profiles_failed) as profiles_failed,
    sum(fields_sent) as fields_sent,
    sum(events_pending) as events_sent,
    sum(events_accepted) as events_accepted,
    sum(events_rejected) as events_rejected,
    sum(events_failed) as events_failed,
    sum(requests) as requests,
    round(sum(duration_seconds), 1) as duration_seconds
from {{ source('okendo_sync', 'runs') }}
where not dry_run
group by all
