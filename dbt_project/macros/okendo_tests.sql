{#- The tests of an incremental build read only the rows it rebuilt.

    dbt's generic tests read their model through get_where_subquery (that is how a test's
    `where` config applies); this override adds the touched customers when the build is
    incremental and the tested relation has a customer_key: the other customers' rows are the
    ones the last build tested and this build left alone. Relations without a customer_key (the
    tier list, the event catalogue) are small and tested whole; a full build tests everything.
    What a scoped test cannot see: a duplicate key between a rebuilt row and one left alone.
    The nightly full build's tests see that too.

    raw.touched_customers is named here, not through source(): a dependency a test meets only
    at run time is one dbt refuses. -#}

{% macro get_where_subquery(relation) -%}
    {%- set clauses = [config.get('where', ''), okendo_test_scope(relation)] | select | list -%}
    {%- if clauses -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ clauses | join(' and ') ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{% macro okendo_test_scope(relation) -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {%- do return('') -%}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {%- if 'customer_key' in columns -%}
        {%- do return('customer_key in (select customer_key from raw.touched_customers)') -%}
    {%- endif -%}
    {%- do return('') -%}
{%- endmacro %}
