-- Referral events (specification, "Events"). Events addressed to the referrer need a current
-- referrer record; each coupon event needs its own date.
with referrers as (select * from {{ okendo_staged(ref('stg_okendo__referrers')) }}),

referrals as (
    select
        referrals.*,
        referrers.customer_key as referrer_customer_key,
        referrers.email as referrer_email,
        referrers.given_name as referrer_first_name,
        referrers.family_name as referrer_last_name
    from {{ okendo_staged(ref('stg_okendo__referrals')) }} as referrals
    left join referrers using (referrer_id)
    {%- if is_incremental() %}
    -- a touched customer's referrals, as recipient or as referrer
    where referrals.recipient_customer_key in {{ okendo_touched() }}
       or referrers.customer_key in {{ okendo_touched() }}
    {%- endif %}
),

events as (
    select
        {{ okendo_event_id(["'referral-opt-in'", "'referrer'", 'referrer_id']) }} as event_id,
        'Opted In to Okendo Referrals' as event_name,
        customer_key,
        opted_in_at as occurred_at,
        json_object('customer_role', 'referrer', 'locale', locale, 'shareable_link', shareable_link)
            as properties
    from referrers

    union all
    select
        {{ okendo_event_id(["'referral-opt-in'", "'recipient'", 'referral_id']) }},
        'Opted In to Okendo Referrals',
        recipient_customer_key,
        opted_in_at,
        json_object(
            'customer_role', 'recipient', 'locale', locale, 'referral_id', referral_id,
            'referrer_first_name', referrer_first_name, 'referrer_email', referrer_email
        )
    from referrals
    where channel = 'email' and opted_in_at is not null

    union all
    select
        {{ okendo_event_id(["'referral-sent'", 'referral_id']) }},
        'Sent Okendo Referral',
        referrer_customer_key,
        created_at,
        json_object(
            'referral_id', referral_id, 'locale', locale, 'recipient_email', recipient_email,
            'recipient_first_name', recipient_given_name
        )
    from referrals
    where channel = 'email' and referrer_customer_key is not null

    union all
    select
        {{ okendo_event_id(["'referral-invitation'", 'referral_id']) }},
        'Okendo Referral Invitation',
        recipient_customer_key,
        created_at,
        json_object(
            'referral_id', referral_id, 'locale', locale,
            'referrer_first_name', referrer_first_name, 'referrer_last_name', referrer_last_name,
            'referrer_email', referrer_email
        )
    from referrals
    where channel = 'email'

    union all
    select
        {{ okendo_event_id(["'referral-link-used'", 'referral_id']) }},
        'Okendo Referral Shareable Link Used',
        recipient_customer_key,
        opted_in_at,
        json_object(
            'referral_id', referral_id, 'locale', locale,
            'referrer_first_name', referrer_first_name, 'referrer_email', referrer_email
        )
    from referrals
    where channel = 'shareable-link' and opted_in_at is not null

    union all
    select
        {{ okendo_event_id(["'referral-coupon-received'", "'referrer'", 'referral_id']) }},
        'Received Okendo Referral Coupon',
        referrer_customer_key,
        referrer_coupon_issued_at,
        json_object(
            'referral_id', referral_id, 'customer_role', 'referrer',
            'coupon_code', referrer_coupon_code, 'locale', locale
        )
    from referrals
    where referrer_coupon_issued_at is not null and referrer_customer_key is not null

    union all
    select
        {{ okendo_event_id(["'referral-coupon-received'", "'recipient'", 'referral_id']) }},
        'Received Okendo Referral Coupon',
        recipient_customer_key,
        recipient_coupon_issued_at,
        json_object(
            'referral_id', referral_id, 'customer_role', 'recipient',
            'coupon_code', recipient_coupon_code, 'locale', locale
        )
    from referrals
    where recipient_coupon_issued_at is not null

    union all
    select
        {{ okendo_event_id(["'referral-coupon-redeemed'", "'referrer'", 'referral_id']) }},
        'Redeemed Okendo Referral Coupon',
        referrer_customer_key,
        referrer_coupon_redeemed_at,
        json_object(
            'referral_id', referral_id, 'customer_role', 'referrer',
            'coupon_code', referrer_coupon_code
        )
    from referrals
    where referrer_coupon_redeemed_at is not null and referrer_customer_key is not null

    union all
    select
        {{ okendo_event_id(["'referral-coupon-redeemed'", "'recipient'", 'referral_id']) }},
        'Redeemed Okendo Referral Coupon',
        recipient_customer_key,
        recipient_coupon_redeemed_at,
        json_object(
            'referral_id', referral_id, 'customer_role', 'recipient',
            'coupon_code', recipient_coupon_code
        )
    from referrals
    where recipient_coupon_redeemed_at is not null

    union all
    select
        {{ okendo_event_id(["'referral-rejected'", 'referral_id']) }},
        'Okendo Referral Rejected',
        referrer_customer_key,
        rejected_at,
        json_object(
            'referral_id', referral_id, 'recipient_email', recipient_email,
            'rejection_reason', rejection_reason
        )
    from referrals
    where status = 'rejected' and rejected_at is not null and referrer_customer_key is not null
)

select * from events{{ okendo_only_touched() }}
