{% macro stg_okendo__referrals(scoped=false) %}
{% call okendo_parse_once() %}
with source as ({{ okendo_current(scoped, 'referral') }})

select
    resource_id as referral_id,
    resource ->> '$.referrerId' as referrer_id,
    customer_key as recipient_customer_key,
    resource ->> '$.recipient.email' as recipient_email,
    {{ okendo_text('$.recipient.givenName') }} as recipient_given_name,
    {{ okendo_text('$.recipient.familyName') }} as recipient_family_name,
    resource ->> '$.channel' as channel,
    resource ->> '$.locale' as locale,
    resource ->> '$.status' as status,
    {{ okendo_timestamp('$.dateCreated') }} as created_at,
    {{ okendo_timestamp('$.dateOptedIn') }} as opted_in_at,
    {{ okendo_timestamp('$.dateSucceeded') }} as succeeded_at,
    {{ okendo_timestamp('$.dateRejected') }} as rejected_at,
    resource ->> '$.rejectionReason' as rejection_reason,
    {{ okendo_text('$.order.orderId') }} as order_id,
    {{ okendo_money('$.order.totalPrice') }} as order_total_price,
    {{ okendo_text('$.order.currency') }} as order_currency,
    {{ okendo_text('$.referrerCoupon.code') }} as referrer_coupon_code,
    {{ okendo_timestamp('$.referrerCoupon.dateIssued') }} as referrer_coupon_issued_at,
    {{ okendo_timestamp('$.referrerCoupon.dateRedeemed') }} as referrer_coupon_redeemed_at,
    {{ okendo_text('$.recipientCoupon.code') }} as recipient_coupon_code,
    {{ okendo_timestamp('$.recipientCoupon.dateIssued') }} as recipient_coupon_issued_at,
    {{ okendo_timestamp('$.recipientCoupon.dateRedeemed') }} as recipient_coupon_redeemed_at,
    sequence_number,
    loaded_at
from source
{% endcall %}
{% endmacro %}
