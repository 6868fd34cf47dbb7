{% macro stg_okendo__quiz_responses(scoped=false) %}
{% call okendo_parse_once() %}
with source as ({{ okendo_current(scoped, 'quiz_response') }})

select
    resource_id as quiz_response_id,
    customer_key,
    resource ->> '$.customer.email' as email,
    resource ->> '$.quizId' as quiz_id,
    resource ->> '$.quizName' as quiz_name,
    {{ okendo_timestamp('$.dateSubmitted') }} as submitted_at,
    resource -> '$.answers' as answers,
    resource -> '$.recommendedProducts' as recommended_products,
    sequence_number,
    loaded_at
from source
{% endcall %}
{% endmacro %}
