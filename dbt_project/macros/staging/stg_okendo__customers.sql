{% macro stg_okendo__customers(scoped=false) %}
{% call okendo_parse_once() %}
with source as ({{ okendo_current(scoped, 'customer') }})

select
    resource_id as customer_id,
    customer_key,
    resource ->> '$.email' as email,
    {{ okendo_text('$.givenName') }} as given_name,
    {{ okendo_text('$.familyName') }} as family_name,
    {{ okendo_text('$.shopifyCustomerId') }} as shopify_customer_id,
    {{ okendo_timestamp('$.dateCreated') }} as created_at,
    {{ okendo_timestamp('$.dateUpdated') }} as updated_at,
    sequence_number,
    loaded_at
from source
{% endcall %}
{% endmacro %}
