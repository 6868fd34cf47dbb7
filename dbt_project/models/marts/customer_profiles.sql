-- The 22 Okendo profile properties per customer (specification, "Profiles" and "Outputs and commands"). Column names are
-- the Braze keys; the Iterable names map one to one (Okendo Given Name = okendo_given_name).
with customers as (select * from {{ okendo_scoped(ref('int_customer_keys_unioned')) }}),
reviews as (select * from {{ okendo_scoped(ref('int_reviews_aggregated_to_customers')) }}),
surveys as (select * from {{ okendo_scoped(ref('int_surveys_aggregated_to_customers')) }}),
referrals as (select * from {{ okendo_scoped(ref('int_referrals_aggregated_to_referrers')) }}),
loyalty as (select * from {{ okendo_scoped(ref('int_loyalty_members_aggregated_to_customers')) }})

select
    customers.customer_key,
    customers.email,
    customers.shopify_customer_id,

    customers.given_name as okendo_given_name,
    customers.family_name as okendo_family_name,

    coalesce(reviews.number_of_reviews, 0) as okendo_number_of_reviews,
    reviews.average_review_rating as okendo_average_review_rating,
    reviews.latest_review_rating as okendo_latest_review_rating,
    reviews.latest_review_sentiment as okendo_latest_review_sentiment,
    reviews.average_review_sentiment as okendo_average_review_sentiment,

    coalesce(surveys.number_of_survey_responses, 0) as okendo_number_of_survey_responses,
    surveys.latest_nps as okendo_latest_nps,
    surveys.latest_nps_category as okendo_latest_nps_category,
    surveys.latest_nps_date as okendo_latest_nps_date,

    referrals.referral_shareable_link as okendo_referral_shareable_link,
    coalesce(referrals.number_of_successful_referrals, 0) as okendo_number_of_successful_referrals,
    referrals.latest_successful_referral_date as okendo_latest_successful_referral_date,
    referrals.total_successful_referral_revenue as okendo_total_successful_referral_revenue,

    loyalty.loyalty_program_status as okendo_loyalty_program_status,
    loyalty.loyalty_enrolment_date as okendo_loyalty_enrolment_date,
    loyalty.loyalty_points_balance as okendo_loyalty_points_balance,
    loyalty.loyalty_points_expiry_date as okendo_loyalty_points_expiry_date,
    loyalty.loyalty_next_birthday_date as okendo_loyalty_next_birthday_date,
    loyalty.loyalty_vip_tier as okendo_loyalty_vip_tier,
    loyalty.loyalty_vip_tier_expiry_date as okendo_loyalty_vip_tier_expiry_date
from customers
left join reviews using (customer_key)
left join surveys using (customer_key)
left join referrals using (customer_key)
left join loyalty using (customer_key)
