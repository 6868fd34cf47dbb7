-- Loyalty properties per customer (specification, "Profiles" and "Fine print: profiles"): status, enrolment, balance from
-- the ledger, expiry after the latest activity, next birthday, VIP tier while enrolled.
with members as (
    -- one membership per key: the most recently updated when several share it
    select
        customer_key,
        arg_max_null(status, (updated_at, loyalty_customer_id)) as status,
        arg_max_null(enrolled_at, (updated_at, loyalty_customer_id)) as enrolled_at,
        arg_max_null(birthday_day, (updated_at, loyalty_customer_id)) as birthday_day,
        arg_max_null(birthday_month, (updated_at, loyalty_customer_id)) as birthday_month,
        arg_max_null(vip_tier_name, (updated_at, loyalty_customer_id)) as vip_tier_name,
        arg_max_null(vip_tier_expires_at, (updated_at, loyalty_customer_id)) as vip_tier_expires_at
    from {{ okendo_scoped(ref('stg_okendo__loyalty_customers')) }}
    group by customer_key
),

ledger as (
    select customer_key, sum(points_delta) as balance, max(transacted_at) as last_transaction_at
    from {{ okendo_scoped(ref('stg_okendo__loyalty_transactions')) }}
    where status = 'complete'
    group by customer_key
),

paid_orders as (
    select customer_key, max(created_at) as last_paid_order_at
    from {{ okendo_scoped(ref('stg_okendo__orders')) }}
    where financial_status = 'paid'
    group by customer_key
),

birthdays as (
    select
        customer_key,
        {{ okendo_as_of() }} as as_of,
        -- valid when the day exists in that month of a leap year (so 29 February is valid)
        birthday_month between 1 and 12
        and birthday_day between 1 and day(last_day(make_date(2000, least(greatest(birthday_month, 1), 12), 1)))
            as is_valid
    from members
)

select
    members.customer_key,
    members.status as loyalty_program_status,
    members.enrolled_at::date as loyalty_enrolment_date,
    coalesce(ledger.balance, 0) as loyalty_points_balance,
    case
        when {{ var('points_expiry_months') }} = 0 or coalesce(ledger.balance, 0) <= 0 then null
        else (
            greatest(ledger.last_transaction_at, paid_orders.last_paid_order_at)::date
            + to_months({{ var('points_expiry_months') }})
        )::date
    end as loyalty_points_expiry_date,
    case when birthdays.is_valid then {{ okendo_next_birthday('members.birthday_month', 'members.birthday_day', 'birthdays.as_of') }} end
        as loyalty_next_birthday_date,
    case when members.status = 'enrolled' then members.vip_tier_name end as loyalty_vip_tier,
    case when members.status = 'enrolled' then members.vip_tier_expires_at::date end
        as loyalty_vip_tier_expiry_date
from members
left join ledger using (customer_key)
left join paid_orders using (customer_key)
left join birthdays using (customer_key)
