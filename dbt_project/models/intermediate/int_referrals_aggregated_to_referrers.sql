-- Referral properties per referrer: link, successful referrals, their latest date and revenue
-- (exact decimals; 0 for a referrer with none; a success without an order adds 0).
with referrers as (
    select
        customer_key,
        arg_max(shareable_link, (opted_in_at, referrer_id)) as referral_shareable_link,
        list(referrer_id) as referrer_ids
    from {{ ref('stg_okendo__referrers') }}
    group by customer_key
),

successes as (
    select referrers.customer_key, referrals.succeeded_at, referrals.order_total_price
    from referrers
    join {{ ref('stg_okendo__referrals') }} as referrals
        on list_contains(referrers.referrer_ids, referrals.referrer_id)
    where referrals.status = 'succeeded'
),

aggregated as (
    select
        customer_key,
        count(*) as number_of_successful_referrals,
        max(succeeded_at)::date as latest_successful_referral_date,
        sum(coalesce(order_total_price, 0)) as successful_referral_revenue
    from successes
    group by customer_key
)

select
    referrers.customer_key,
    referrers.referral_shareable_link,
    coalesce(aggregated.number_of_successful_referrals, 0) as number_of_successful_referrals,
    aggregated.latest_successful_referral_date,
    round(coalesce(aggregated.successful_referral_revenue, 0), 2)::decimal(38, 2)
        as total_successful_referral_revenue
from referrers
left join aggregated using (customer_key)
