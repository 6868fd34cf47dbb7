{% macro stg_okendo__referrers(scoped=false) %}
{% call okendo_parse_once() %}
with source as ({{ okendo_current(scoped, 'referrer') }})

select
    resource_id as referrer_id,
    customer_key,
    resource ->> '$.customer.email' as email,
    {{ okendo_text('$.customer.givenName') }} as given_name,
    {{ okendo_text('$.customer.familyName') }} as family_name,
    resource ->> '$.shareableLink' as shareable_link,
    resource ->> '$.locale' as locale,
    {{ okendo_timestamp('$.dateOptedIn') }} as opted_in_at,
    sequence_number,
    loaded_at
from source
{% endcall %}
{% endmacro %}
