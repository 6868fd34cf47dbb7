{#- The tests of an incremental build read only the rows it rebuilt.

    dbt's generic tests read their model through get_where_subquery (that is how a test's
    `where` config applies); this override reads, when the build is incremental and the tested
    relation is an incremental model, the rows the build wrote for the touched customers: the
    copy the build kept (okendo_built), or, for a model the build did not select, the model
    filtered to those customers. The other customers' rows are the ones the last build tested
    and this build left alone. Other relations (the tier list, the event catalogue) are small
    and tested whole; a full build tests everything.
    What a scoped test cannot see: a duplicate key between a rebuilt row and one left alone.
    The nightly full build's tests see that too.

    raw.touched_customers is named here, not through source(): a dependency a test meets only
    at run time is one dbt refuses. -#}

{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set rows = okendo_test_rows(relation) -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ rows ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- elif rows is string -%}
        {%- do return(rows ~ ' dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{% macro okendo_test_rows(relation) -%}
    {#- What a test of `relation` reads: the relation, or (as text) the rows of the touched
        customers when an incremental build rebuilt them. -#}
    {%- set built = okendo_built(relation) if flags.WHICH == 'build' else none -%}
    {%- set scope = okendo_test_scope(relation) -%}
    {%- if built is not none -%}
        {%- do return('(select * from ' ~ built ~ ')') -%}
    {%- elif scope -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ scope ~ ')') -%}
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

{% macro default__test_relationships(model, column_name, to, field) -%}
{#- dbt's own test, but when the child rows are the touched customers' and the key is theirs,
    only the parent's rows of those customers can match: read them from the build's copy
    rather than every row of the parent. -#}
{%- set parent = okendo_built(to) if flags.WHICH == 'build' else none -%}
{%- set scoped_child = 'okendo_scope_' in (model | string) -%}
with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),

parent as (
    select {{ field }} as to_field
    from {{ parent if parent is not none and scoped_child and field == 'customer_key' else to }}
)

select
    from_field

from child
left join parent
    on child.from_field = parent.to_field

where parent.to_field is null
{%- endmacro %}
