-- Loyalty events (specification, "Events" and "Fine print: events"): enrolment, points awarded (with the running
-- balance), redeemed, adjusted, tier changes between consecutive versions, tier-upgrade nudge.
with members as (select * from {{ okendo_scoped(ref('stg_okendo__loyalty_customers')) }}),
tiers as (select * from {{ ref('stg_okendo__vip_tiers') }}),

ledger as (
    -- running balance over the customer's complete transactions, ordered by (date, id; then
    -- earning before redemption before adjustment)
    select
        *,
        sum(points_delta) over (
            partition by customer_key
            order by transacted_at, loyalty_transaction_id,
                case transaction_kind when 'earning' then 0 when 'redemption' then 1 else 2 end
            rows between unbounded preceding and current row
        ) as running_balance
    from {{ okendo_scoped(ref('stg_okendo__loyalty_transactions')) }}
    where status = 'complete'
),

versions as (
    select
        *,
        lag(vip_tier_name) over (partition by loyalty_customer_id order by sequence_number)
            as previous_tier_name
    from {{ okendo_staged(ref('stg_okendo__loyalty_customer_versions')) }}
    {%- if is_incremental() %}
    -- every version of a touched member, whichever customer it was keyed to: the chain is whole
    where loyalty_customer_id in (
        select loyalty_customer_id from {{ okendo_staged(ref('stg_okendo__loyalty_customer_versions')) }}
        where customer_key in {{ okendo_touched() }}
    )
    {%- endif %}
),

tier_changes as (
    select
        versions.*,
        previous.tier_rank as previous_rank,
        current_tier.tier_rank as new_rank
    from versions
    left join tiers as previous on previous.tier_name = versions.previous_tier_name
    left join tiers as current_tier on current_tier.tier_name = versions.vip_tier_name
    where versions.previous_tier_name is not null
      and versions.vip_tier_name is not null
      and versions.previous_tier_name <> versions.vip_tier_name
    -- The occurrence is the member entering a tier at a time, not the version that happened to
    -- show it first: a version delivered late keeps the event's id. Two changes into one tier at
    -- one instant are one occurrence (the first by sequence number).
    qualify row_number() over (
        partition by
            versions.loyalty_customer_id,
            versions.vip_tier_name,
            coalesce(versions.vip_tier_entered_at, versions.updated_at)
        order by versions.sequence_number
    ) = 1
),

-- Nudge: spend in the current tier period towards the next tier
periods as (
    select
        members.customer_key,
        members.loyalty_customer_id,
        current_tier.tier_name as current_tier,
        coalesce(members.vip_tier_entered_at, members.enrolled_at) as period_start,
        coalesce(current_tier.tier_rank, -1) as current_rank,
        members.vip_tier_name is null as has_no_tier
    from members
    left join tiers as current_tier on current_tier.tier_name = members.vip_tier_name
    where members.status = 'enrolled'
      -- a named tier that no tier record carries: no nudge
      and (members.vip_tier_name is null or current_tier.tier_id is not null)
),

targets as (
    select
        periods.*,
        next_tier.tier_id as next_tier_id,
        next_tier.tier_name as next_tier,
        next_tier.spend_threshold as next_tier_threshold,
        next_tier.currency
    from periods
    join tiers as next_tier
        on next_tier.tier_rank > periods.current_rank
        and (not periods.has_no_tier or next_tier.spend_threshold > 0)
    qualify row_number() over (
        partition by periods.loyalty_customer_id order by next_tier.tier_rank, next_tier.tier_id
    ) = 1
),

period_spend as (
    select
        targets.*,
        orders.order_id,
        orders.created_at as order_at,
        sum(orders.total_price) over (
            partition by targets.loyalty_customer_id
            order by orders.created_at, orders.order_id
            rows between unbounded preceding and current row
        ) as spend_to_date
    from targets
    join {{ okendo_scoped(ref('stg_okendo__orders')) }} as orders
        on orders.customer_key = targets.customer_key
        and orders.financial_status = 'paid'
        and orders.created_at >= targets.period_start
    where targets.period_start is not null
),

crossing as (
    -- the order at which spend first reaches 80% of the threshold; a nudge only if it is
    -- still below the threshold there
    select *
    from period_spend
    where spend_to_date >= 0.8 * next_tier_threshold
    qualify row_number() over (
        partition by loyalty_customer_id order by order_at, order_id
    ) = 1
)

select
    {{ okendo_event_id(["'loyalty-enrolled'", 'loyalty_customer_id']) }} as event_id,
    'Enrolled in Okendo Loyalty' as event_name,
    customer_key,
    enrolled_at as occurred_at,
    json_object() as properties
from members
where status = 'enrolled' and enrolled_at is not null

union all
select
    {{ okendo_event_id(["'loyalty-awarded'", 'loyalty_transaction_id']) }},
    'Okendo Loyalty Points Awarded',
    customer_key,
    transacted_at,
    json_object(
        'activity_id', loyalty_transaction_id, 'points', points_delta, 'action', action,
        'description', description, 'points_balance', running_balance
    )
from ledger
where transaction_kind = 'earning'

union all
select
    {{ okendo_event_id(["'loyalty-redeemed'", 'loyalty_transaction_id']) }},
    'Okendo Loyalty Points Redeemed',
    customer_key,
    transacted_at,
    json_object(
        'activity_id', loyalty_transaction_id, 'points_spent', -points_delta,
        'reward_type', reward_type, 'coupon_code', coupon_code,
        'coupon_description', coupon_description,
        'coupon_expiry_date', {{ okendo_iso_second('coupon_expires_at') }},
        'store_credit_amount', round(store_credit_amount, 2)::double
    )
from ledger
where transaction_kind = 'redemption'

union all
select
    {{ okendo_event_id(["'loyalty-adjusted'", 'loyalty_transaction_id']) }},
    'Okendo Loyalty Points Adjusted',
    customer_key,
    transacted_at,
    json_object(
        'activity_id', loyalty_transaction_id, 'points', points_delta,
        'reason', internal_reason, 'description', notification_text
    )
from ledger
where transaction_kind = 'adjustment'

union all
select
    {{ okendo_event_id([
        "'loyalty-tier-changed'", 'loyalty_customer_id', 'vip_tier_name',
        "strftime(coalesce(vip_tier_entered_at, updated_at), '%Y-%m-%dT%H:%M:%S.%fZ')"
    ]) }},
    'Okendo Loyalty Tier Changed',
    customer_key,
    coalesce(vip_tier_entered_at, updated_at),
    json_object(
        'previous_tier', previous_tier_name, 'new_tier', vip_tier_name,
        'direction', case
            when new_rank > previous_rank then 'upgrade'
            when new_rank < previous_rank then 'downgrade'
        end,
        'tier_expiry_date', {{ okendo_iso_second('vip_tier_expires_at') }}
    )
from tier_changes{{ okendo_only_touched() }}

union all
select
    {{ okendo_event_id([
        "'loyalty-tier-nudge'", 'loyalty_customer_id', 'next_tier_id',
        "strftime(period_start, '%Y-%m-%dT%H:%M:%S.%fZ')"
    ]) }},
    'Okendo Loyalty Tier Upgrade Nudge',
    customer_key,
    order_at,
    json_object(
        'current_tier', current_tier, 'next_tier', next_tier,
        'spend_to_date', round(spend_to_date, 2)::double,
        'next_tier_threshold', round(next_tier_threshold, 2)::double,
        'amount_to_next_tier', round(next_tier_threshold - spend_to_date, 2)::double,
        'currency', currency
    )
from crossing
where spend_to_date < next_tier_threshold
