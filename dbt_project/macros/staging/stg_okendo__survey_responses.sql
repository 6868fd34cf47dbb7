{% macro stg_okendo__survey_responses(scoped=false) %}
{% call okendo_parse_once() %}
with source as ({{ okendo_current(scoped, 'survey_response') }})

select
    resource_id as survey_response_id,
    customer_key,
    resource ->> '$.customer.email' as email,
    resource ->> '$.surveyId' as survey_id,
    resource ->> '$.surveyName' as survey_name,
    {{ okendo_timestamp('$.dateSubmitted') }} as submitted_at,
    {{ okendo_text('$.order.orderId') }} as order_id,
    resource -> '$.answers' as answers,
    sequence_number,
    loaded_at
from source
{% endcall %}
{% endmacro %}
