{#- The tests of an incremental build read only the rows it rebuilt.

    dbt's generic tests read their model through get_where_subquery (that is how a test's
    `where` config applies); this override adds the touched customers when the build is
    incremental and the tested relation is an incremental model (each has a customer_key): the
    other customers' rows are the ones the last build tested and this build left alone. Other
    relations (the tier list, the event catalogue) are small and tested whole; a full build
    tests everything.
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
    {#- Read from the graph, not asked of the database (a query per test, about 20 ms of each
        test's 35 in a micro-batch): the incremental models are the ones an incremental build
        rebuilt, and each has a customer_key, by which its pre-hook deletes. -#}
    {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.config.materialized == 'incremental'
            and node.schema == relation.schema and node.alias == relation.identifier -%}
        {%- do return('customer_key in (select customer_key from raw.touched_customers)') -%}
    {%- endfor -%}
    {%- do return('') -%}
{%- endmacro %}
