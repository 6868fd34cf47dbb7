-- Survey properties per customer: response count and the latest NPS answer.
with responses as (
    select
        *,
        -- the first nps answer of the response (CONTRACT section 7)
        try_cast(
            list_filter(
                json_extract(answers, '$[*]'), lambda a: (a ->> '$.questionType') = 'nps'
            )[1] ->> '$.value' as integer
        ) as nps_score
    from {{ ref('stg_okendo__survey_responses') }}
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
    case
        when latest_nps.latest_nps >= 9 then 'promoter'
        when latest_nps.latest_nps >= 7 then 'passive'
        when latest_nps.latest_nps >= 0 then 'detractor'
    end as latest_nps_category,
    latest_nps.latest_nps_at::date as latest_nps_date
from counts
left join latest_nps using (customer_key)
