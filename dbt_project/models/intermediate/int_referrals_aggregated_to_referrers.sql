-- Referral properties per referrer: link, successful referrals, their latest date and revenue
-- (exact decimals; 0 for a referrer with none; a success without an order adds 0).
with referrer_records as (
    select referrer_id, customer_key, shareable_link, opted_in_at
    from {{ okendo_scoped(ref('stg_okendo__referrers')) }}
),

referrers as (
    select
        customer_key,
        arg_max(shareable_link, (opted_in_at, referrer_id)) as referral_shareable_link
    from referrer_records
    group by customer_key
),

successes as (
    -- an equi-join on referrer_id (a customer may hold several referrer records)
    select referrer_records.customer_key, referrals.succeeded_at, referrals.order_total_price
    from {{ okendo_staged(ref('stg_okendo__referrals')) }} as referrals
    join referrer_records using (referrer_id)
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
