-- Review properties per customer (specification, "Profiles"): count, average rating, latest review,
-- and the sentiment average (positive 1, neutral and mixed 0, negative -1).
with reviews as (
    select
        *,
        case sentiment
            when 'positive' then 1
            when 'negative' then -1
            when 'neutral' then 0
            when 'mixed' then 0
        end as sentiment_score
    from {{ okendo_scoped(ref('stg_okendo__reviews')) }}
),

aggregated as (
    select
        customer_key,
        count(*) as number_of_reviews,
        round(avg(rating), 2) as average_review_rating,
        -- latest by dateCreated, ties to the greatest reviewId; its sentiment may be null
        arg_max_null(rating, (created_at, review_id)) as latest_review_rating,
        arg_max_null(sentiment, (created_at, review_id)) as latest_review_sentiment,
        avg(sentiment_score) as sentiment_mean,
        bool_or(sentiment = 'positive') as has_positive,
        bool_or(sentiment = 'negative') as has_negative
    from reviews
    group by customer_key
)

select
    customer_key,
    number_of_reviews,
    average_review_rating,
    latest_review_rating,
    latest_review_sentiment,
    case
        when sentiment_mean is null then null
        when sentiment_mean >= 0.5 then 'positive'
        when sentiment_mean <= -0.5 then 'negative'
        when has_positive and has_negative then 'mixed'
        else 'neutral'
    end as average_review_sentiment
from aggregated
