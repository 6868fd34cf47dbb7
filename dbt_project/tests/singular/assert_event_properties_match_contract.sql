-- Every event carries exactly the properties CONTRACT section 3 lists for its name (a missing
-- source value is a JSON null, never an absent key). Returns the events that differ.
with expected(event_name, property_keys) as (
    values
    ('Okendo Review Created', ['review_id', 'product_id', 'product_name', 'product_url', 'rating', 'title', 'body', 'is_recommended', 'overall_sentiment', 'language_code', 'photo_count', 'photo_urls', 'video_count', 'verified_status', 'achieved_reward', 'order_id']),
    ('Okendo Review Request', ['review_request_id', 'order_id', 'order_number', 'first_name', 'last_name', 'products']),
    ('Okendo Review Request Cancelled', ['review_request_id', 'order_id']),
    ('Submitted Okendo Survey', ['survey_response_id', 'survey_id', 'survey_name', 'nps_score', 'nps_category', 'order_id', 'answers']),
    ('Submitted Okendo Quiz', ['quiz_response_id', 'quiz_id', 'quiz_name', 'answers', 'recommended_products']),
    ('Sent Okendo Referral', ['referral_id', 'locale', 'recipient_email', 'recipient_first_name']),
    ('Okendo Referral Invitation', ['referral_id', 'locale', 'referrer_first_name', 'referrer_last_name', 'referrer_email']),
    ('Okendo Referral Shareable Link Used', ['referral_id', 'locale', 'referrer_first_name', 'referrer_email']),
    ('Received Okendo Referral Coupon', ['referral_id', 'customer_role', 'coupon_code', 'locale']),
    ('Redeemed Okendo Referral Coupon', ['referral_id', 'customer_role', 'coupon_code']),
    ('Okendo Referral Rejected', ['referral_id', 'recipient_email', 'rejection_reason']),
    ('Enrolled in Okendo Loyalty', []::varchar[]),
    ('Okendo Loyalty Points Awarded', ['activity_id', 'points', 'action', 'description', 'points_balance']),
    ('Okendo Loyalty Points Redeemed', ['activity_id', 'points_spent', 'reward_type', 'coupon_code', 'coupon_description', 'coupon_expiry_date', 'store_credit_amount']),
    ('Okendo Loyalty Points Adjusted', ['activity_id', 'points', 'reason', 'description']),
    ('Okendo Loyalty Tier Changed', ['previous_tier', 'new_tier', 'direction', 'tier_expiry_date']),
    ('Okendo Loyalty Tier Upgrade Nudge', ['current_tier', 'next_tier', 'spend_to_date', 'next_tier_threshold', 'amount_to_next_tier', 'currency'])
)

select events.event_id, events.event_name, json_keys(events.properties) as got
from {{ ref('customer_events') }} as events
left join expected using (event_name)
where events.event_name <> 'Opted In to Okendo Referrals'
  and (expected.event_name is null
       or list_sort(json_keys(events.properties)) <> list_sort(expected.property_keys))

union all

-- the two Opted In variants, told apart by customer_role
select event_id, event_name, json_keys(properties)
from {{ ref('customer_events') }}
where event_name = 'Opted In to Okendo Referrals'
  and list_sort(json_keys(properties)) not in (
      list_sort(['customer_role', 'locale', 'shareable_link']),
      list_sort(['customer_role', 'locale', 'referral_id', 'referrer_first_name', 'referrer_email'])
  )
