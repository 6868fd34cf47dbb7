-- Survey properties per customer: response count and the latest NPS answer.
with responses as (
    select
        *,
        {{ okendo_first_nps('answers') }} as nps_score
    from {{ okendo_scoped(ref('stg_okendo__survey_responses')) }}
),

latest_nps as (
    select
        customer_key,
        arg_max(nps_score, (submitted_at, survey_response_id)) as latest_nps,
        arg_max(submitted_at, (submitted_at, survey_response_id)) as latest_nps_at
    from responses
    where nps_score is not null
    group by customer_key
),

counts as (
    select customer_key, count(*) as number_of_survey_responses
    from responses
    group by customer_key
)

select
    counts.customer_key,
    counts.number_of_survey_responses,
    latest_nps.latest_nps,
    {{ okendo_nps_category('latest_nps.latest_nps') }} as latest_nps_category,
    latest_nps.latest_nps_at::date as latest_nps_date
from counts
left join latest_nps using (customer_key)
