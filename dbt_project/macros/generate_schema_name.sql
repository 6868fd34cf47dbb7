{#- Schemas are named as configured (staging, intermediate, marts): specification, "Outputs and commands" fixes
    `marts.customer_profiles`, and analysts query these names directly. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name else target.schema }}
{%- endmacro %}
