{% macro stg_okendo__loyalty_customer_versions(scoped=false) %}
-- Every accepted version of every loyalty customer (the history, not the current state): tier
-- changes are read from consecutive versions. Deletes are versions without a tier.
{% call okendo_parse_once() %}
with source as (
    select * from {{ okendo_history_relation(scoped) }}
    where resource_type = 'loyalty_customer'
)

select
    resource_id as loyalty_customer_id,
    sequence_number,
    topic,
    customer_key,
    resource ->> '$.status' as status,
    {{ okendo_text('$.vipTierName') }} as vip_tier_name,
    {{ okendo_timestamp('$.vipTierEntryDate') }} as vip_tier_entered_at,
    {{ okendo_timestamp('$.vipTierExpiryDate') }} as vip_tier_expires_at,
    {{ okendo_timestamp('$.dateUpdated') }} as updated_at,
    loaded_at
from source
{% endcall %}
{% endmacro %}
