-- Per destination and customer: the profile values the destination last acknowledged, and when.
select * exclude (row_hash)
from {{ source('okendo_sync', 'profile_state') }}
