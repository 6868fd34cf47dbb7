{% macro stg_okendo__loyalty_customers(scoped=false) %}
{% call okendo_parse_once() %}
with source as ({{ okendo_current(scoped, 'loyalty_customer') }})

select
    resource_id as loyalty_customer_id,
    customer_key,
    resource ->> '$.customer.email' as email,
    resource ->> '$.status' as status,
    {{ okendo_timestamp('$.dateEnrolled') }} as enrolled_at,
    try_cast(resource ->> '$.birthday.day' as integer) as birthday_day,
    try_cast(resource ->> '$.birthday.month' as integer) as birthday_month,
    {{ okendo_text('$.vipTierName') }} as vip_tier_name,
    {{ okendo_timestamp('$.vipTierEntryDate') }} as vip_tier_entered_at,
    {{ okendo_timestamp('$.vipTierExpiryDate') }} as vip_tier_expires_at,
    try_cast(resource ->> '$.pointsBalance' as bigint) as okendo_points_balance,
    {{ okendo_timestamp('$.dateUpdated') }} as updated_at,
    sequence_number,
    loaded_at
from source
{% endcall %}
{% endmacro %}
