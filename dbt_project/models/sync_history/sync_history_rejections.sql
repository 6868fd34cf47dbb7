-- Per destination and day: why rows were rejected, most common first (rank 1 = top reason).
with rejected as (
    select
        destination,
        cast(logged_at at time zone 'UTC' as date) as sync_date,
        kind,
        coalesce(message, '(no reason given)') as reason,
        count(*) as rows_rejected
    from {{ source('okendo_sync', 'row_log') }}
    where status = 'rejected'
    group by all
)

select
    *,
    row_number() over (
        partition by destination, sync_date order by rows_rejected desc, reason
    ) as reason_rank
from rejected
