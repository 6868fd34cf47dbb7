{% macro stg_okendo__vip_tiers(scoped=false) %}
{% call okendo_parse_once() %}
with source as ({{ okendo_current(scoped, 'loyalty_vip_tier') }})

select
    resource_id as tier_id,
    resource ->> '$.name' as tier_name,
    (resource ->> '$.rank')::integer as tier_rank,
    {{ okendo_money('$.spendThreshold') }} as spend_threshold,
    resource ->> '$.currency' as currency,
    sequence_number,
    loaded_at
from source
{% endcall %}
{% endmacro %}
