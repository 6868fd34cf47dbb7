-- Submitted Okendo Survey and Submitted Okendo Quiz.
with surveys as (
    select
        *,
        {{ okendo_first_nps('answers') }} as nps_score
    from {{ okendo_scoped(ref('stg_okendo__survey_responses')) }}
),
quizzes as (select * from {{ okendo_scoped(ref('stg_okendo__quiz_responses')) }})

select
    {{ okendo_event_id(["'survey'", 'survey_response_id']) }} as event_id,
    'Submitted Okendo Survey' as event_name,
    customer_key,
    submitted_at as occurred_at,
    json_object(
        'survey_response_id', survey_response_id,
        'survey_id', survey_id,
        'survey_name', survey_name,
        'nps_score', nps_score,
        'nps_category', {{ okendo_nps_category('nps_score') }},
        'order_id', order_id,
        'answers', coalesce(list_transform(json_extract(answers, '$[*]'), lambda a: json_object(
            'question', a ->> '$.title', 'value', a -> '$.value'
        )), [])
    ) as properties
from surveys

union all

select
    {{ okendo_event_id(["'quiz'", 'quiz_response_id']) }},
    'Submitted Okendo Quiz',
    customer_key,
    submitted_at,
    json_object(
        'quiz_response_id', quiz_response_id,
        'quiz_id', quiz_id,
        'quiz_name', quiz_name,
        'answers', coalesce(list_transform(json_extract(answers, '$[*]'), lambda a: json_object(
            'question', a ->> '$.question', 'answer', a -> '$.answer'
        )), []),
        'recommended_products', coalesce(list_transform(
            json_extract(recommended_products, '$[*]'), lambda p: json_object(
                'product_id', p ->> '$.productId',
                'name', p ->> '$.name',
                'url', p ->> '$.url',
                'image_url', p ->> '$.imageUrl'
            )), [])
    )
from quizzes
