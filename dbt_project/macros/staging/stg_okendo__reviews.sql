{% macro stg_okendo__reviews(scoped=false) %}
{% call okendo_parse_once() %}
with source as ({{ okendo_current(scoped, 'review') }})

select
    resource_id as review_id,
    customer_key,
    resource ->> '$.reviewer.email' as reviewer_email,
    {{ okendo_text('$.reviewer.customerId') }} as reviewer_customer_id,
    {{ okendo_text('$.reviewer.displayName') }} as reviewer_display_name,
    {{ okendo_text('$.reviewer.verifiedStatus') }} as verified_status,
    resource -> '$.reviewer.attributes' as reviewer_attributes,
    {{ okendo_text('$.productId') }} as product_id,
    {{ okendo_text('$.productName') }} as product_name,
    {{ okendo_text('$.productUrl') }} as product_url,
    {{ okendo_text('$.variantId') }} as variant_id,
    (resource ->> '$.rating')::integer as rating,
    resource ->> '$.title' as title,
    resource ->> '$.body' as body,
    try_cast(resource ->> '$.isRecommended' as boolean) as is_recommended,
    resource ->> '$.sentiment' as sentiment,
    resource ->> '$.status' as status,
    {{ okendo_text('$.languageCode') }} as language_code,
    {{ okendo_timestamp('$.dateCreated') }} as created_at,
    resource -> '$.media' as media,
    {{ okendo_text('$.order.orderId') }} as order_id,
    {{ okendo_text('$.order.orderNumber') }} as order_number,
    resource ->> '$.achievedReward' as achieved_reward,
    sequence_number,
    loaded_at
from source
{% endcall %}
{% endmacro %}
