{#- Casting helpers for Okendo's JSON fields: staging models only rename and cast. -#}

{%- macro okendo_timestamp(json_path) -%}
{#- A zoned ISO 8601 timestamp as a UTC timestamp; anything else is absent (CONTRACT 7). -#}
case
    when regexp_full_match(resource ->> '{{ json_path }}',
        '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})')
    then timezone('UTC', try_cast(resource ->> '{{ json_path }}' as timestamptz))
end
{%- endmacro -%}

{%- macro okendo_text(json_path) -%}
nullif(resource ->> '{{ json_path }}', '')
{%- endmacro -%}

{%- macro okendo_email_key(json_path) -%}
lower(trim(resource ->> '{{ json_path }}'))
{%- endmacro -%}

{%- macro okendo_money(json_path) -%}
{#- Exact decimal, never floating point: strings and JSON numbers cast through text. -#}
try_cast(resource ->> '{{ json_path }}' as decimal(38, 9))
{%- endmacro -%}

{%- macro okendo_current(resource_type) -%}
select * from {{ source('okendo_raw', 'current_resources') }}
where resource_type = '{{ resource_type }}'
{%- endmacro -%}
