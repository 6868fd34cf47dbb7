{% macro stg_okendo__loyalty_transactions(scoped=false) %}
-- The three loyalty transaction types in one ledger: signed points per transaction.
{% call okendo_parse_once() %}
with source as (
    select * from {{ okendo_current_relation(scoped) }}
    where resource_type in (
        'loyalty_earning_transaction',
        'loyalty_redemption_transaction',
        'loyalty_adjustment_transaction'
    )
)

select
    resource_id as loyalty_transaction_id,
    case resource_type
        when 'loyalty_earning_transaction' then 'earning'
        when 'loyalty_redemption_transaction' then 'redemption'
        else 'adjustment'
    end as transaction_kind,
    customer_key,
    resource ->> '$.customer.email' as email,
    resource ->> '$.loyaltyCustomerId' as loyalty_customer_id,
    resource ->> '$.status' as status,
    {{ okendo_timestamp('$.date') }} as transacted_at,
    case resource_type
        when 'loyalty_earning_transaction' then (resource ->> '$.points')::bigint
        when 'loyalty_redemption_transaction' then -(resource ->> '$.pointsSpent')::bigint
        else (resource ->> '$.amount')::bigint
    end as points_delta,
    -- earning
    resource ->> '$.action' as action,
    resource ->> '$.description' as description,
    -- redemption
    resource ->> '$.rewardType' as reward_type,
    {{ okendo_text('$.couponCode') }} as coupon_code,
    {{ okendo_text('$.couponDescription') }} as coupon_description,
    {{ okendo_timestamp('$.couponExpiryDate') }} as coupon_expires_at,
    try_cast(resource ->> '$.storeCreditAmount' as decimal(38, 9)) as store_credit_amount,
    -- adjustment
    resource ->> '$.internalReason' as internal_reason,
    resource ->> '$.notificationText' as notification_text,
    sequence_number,
    loaded_at
from source
{% endcall %}
{% endmacro %}
