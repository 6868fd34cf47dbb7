-- Every customer_key that keys a current resource (specification, "Fine print: profiles"): referral
-- recipients and customers known only from loyalty transactions or orders included.
with keys as (
    select customer_key from {{ okendo_scoped(ref('stg_okendo__customers')) }}
    union select customer_key from {{ okendo_scoped(ref('stg_okendo__reviews')) }}
    union select customer_key from {{ okendo_scoped(ref('stg_okendo__review_requests')) }}
    union select customer_key from {{ okendo_scoped(ref('stg_okendo__survey_responses')) }}
    union select customer_key from {{ okendo_scoped(ref('stg_okendo__quiz_responses')) }}
    union select customer_key from {{ okendo_scoped(ref('stg_okendo__loyalty_customers')) }}
    union select customer_key from {{ okendo_scoped(ref('stg_okendo__loyalty_transactions')) }}
    union select customer_key from {{ okendo_scoped(ref('stg_okendo__orders')) }}
    union select customer_key from {{ okendo_scoped(ref('stg_okendo__referrers')) }}
    union select recipient_customer_key from {{ okendo_scoped(ref('stg_okendo__referrals'), 'recipient_customer_key') }}
),

customers as (
    -- one customer record per key: the latest created (then greatest id) when several share it
    select
        customer_key,
        arg_max_null(email, (created_at, customer_id)) as email,
        arg_max_null(given_name, (created_at, customer_id)) as given_name,
        arg_max_null(family_name, (created_at, customer_id)) as family_name,
        arg_max_null(shopify_customer_id, (created_at, customer_id)) as shopify_customer_id
    from {{ okendo_scoped(ref('stg_okendo__customers')) }}
    group by customer_key
)

select
    keys.customer_key,
    coalesce(trim(customers.email), keys.customer_key) as email,
    customers.given_name,
    customers.family_name,
    customers.shopify_customer_id
from keys
left join customers using (customer_key)
where keys.customer_key is not null
