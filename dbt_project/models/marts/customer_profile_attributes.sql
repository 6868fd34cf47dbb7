-- Profile-question answers for Braze (specification, "Profiles"): review reviewer attributes and
-- survey answers that carry a profileAttribute; the latest non-null answer per attribute.
with review_answers as (
    select
        reviews.customer_key,
        answer ->> '$.title' as title,
        answer -> '$.value' as value,
        reviews.created_at as answered_at,
        'review' as source,
        reviews.review_id as source_id
    from {{ okendo_scoped(ref('stg_okendo__reviews')) }} as reviews,
        unnest(json_extract(reviews.reviewer_attributes, '$[*]')) as attrs(answer)
),

survey_answers as (
    select
        surveys.customer_key,
        answer ->> '$.title' as title,
        answer -> '$.value' as value,
        surveys.submitted_at as answered_at,
        'survey' as source,
        surveys.survey_response_id as source_id
    from {{ okendo_scoped(ref('stg_okendo__survey_responses')) }} as surveys,
        unnest(json_extract(surveys.answers, '$[*]')) as answers(answer)
    where coalesce(answer ->> '$.profileAttribute', '') <> ''
),

answers as (
    select *, 'okendo_profile_' || {{ okendo_snake_case('title') }} as attribute_key
    from (select * from review_answers union all select * from survey_answers)
    where coalesce(json_type(value), 'NULL') <> 'NULL' and coalesce(title, '') <> ''
)

select customer_key, attribute_key, value, answered_at, source, source_id
from answers
qualify row_number() over (
    partition by customer_key, attribute_key order by answered_at desc, source desc, source_id desc
) = 1
