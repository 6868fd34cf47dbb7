{% macro stg_okendo__orders(scoped=false) %}
{% call okendo_parse_once() %}
with source as ({{ okendo_current(scoped, 'order') }})

select
    resource_id as order_id,
    customer_key,
    resource ->> '$.customer.email' as email,
    resource ->> '$.orderNumber' as order_number,
    {{ okendo_money('$.totalPrice') }} as total_price,
    resource ->> '$.currency' as currency,
    resource ->> '$.financialStatus' as financial_status,
    {{ okendo_timestamp('$.dateCreated') }} as created_at,
    sequence_number,
    loaded_at
from source
{% endcall %}
{% endmacro %}
