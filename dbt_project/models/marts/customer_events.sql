-- The Okendo event stream (specification, "Events" and "Outputs and commands"): one row per event, with the
-- recipient's identity for the destinations.
with events as (
    select * from {{ okendo_scoped(ref('int_events_reviews')) }}
    union all select * from {{ okendo_scoped(ref('int_events_surveys_quizzes')) }}
    union all select * from {{ okendo_scoped(ref('int_events_referrals')) }}
    union all select * from {{ okendo_scoped(ref('int_events_loyalty')) }}
),

customers as (select * from {{ okendo_scoped(ref('int_customer_keys_unioned')) }})

select
    events.event_id,
    events.event_name,
    events.customer_key,
    customers.email,
    customers.shopify_customer_id,
    events.occurred_at,
    events.properties
from events
left join customers using (customer_key)
where events.customer_key is not null and events.occurred_at is not null
