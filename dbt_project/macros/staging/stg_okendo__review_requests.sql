{% macro stg_okendo__review_requests(scoped=false) %}
{% call okendo_parse_once() %}
with source as ({{ okendo_current(scoped, 'review_request') }})

select
    resource_id as review_request_id,
    customer_key,
    resource ->> '$.customer.email' as email,
    {{ okendo_text('$.customer.customerId') }} as customer_id,
    {{ okendo_text('$.customer.givenName') }} as given_name,
    {{ okendo_text('$.customer.familyName') }} as family_name,
    {{ okendo_text('$.order.orderId') }} as order_id,
    {{ okendo_text('$.order.orderNumber') }} as order_number,
    resource -> '$.products' as products,
    resource ->> '$.status' as status,
    {{ okendo_timestamp('$.dateCreated') }} as created_at,
    {{ okendo_timestamp('$.dateCancelled') }} as cancelled_at,
    sequence_number,
    loaded_at
from source
{% endcall %}
{% endmacro %}
