{#- The tests of an incremental build read only the rows it rebuilt.

    dbt's generic tests read their model through get_where_subquery (that is how a test's
    `where` config applies); this override reads, in an incremental `dbt build` and for an
    incremental model, the rows the build wrote for the touched customers: the copy the build
    kept (okendo_built), or, for a model the build did not select, the model filtered to those
    customers. The other customers' rows are the ones the last build tested and this build left
    alone. Other relations (the tier list, the event catalogue) are small and tested whole; a
    full build, and `dbt test` run by hand, test every row.
    What a scoped test cannot see: a duplicate key between a rebuilt row and one left alone.
    The nightly full build's tests see that too.

    raw.touched_customers is named here, not through source(): a dependency a test meets only
    at run time is one dbt refuses. -#}

{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set rows = okendo_test_rows(relation) -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ rows ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(rows) -%}
{%- endmacro %}

{% macro okendo_test_rows(relation) -%}
    {#- What a test of `relation` reads: the relation, the copy of the rows this build rebuilt
        (a relation too), or the model filtered to the touched customers (a subquery). Scoped
        in `dbt build` and in `dbt compile`, which shows a test as such a build runs it; whole
        in `dbt test`. Read from the graph, not asked of the database (a query per test, about
        20 ms of each test's 35 in a micro-batch). -#}
    {%- if not okendo_incremental_build(('build', 'compile'))
            or okendo_incremental_model(relation) is none -%}
        {%- do return(relation) -%}
    {%- endif -%}
    {%- set built = okendo_built(relation) -%}
    {%- if built is not none -%}
        {%- do return(built) -%}
    {%- endif -%}
    {%- do return(okendo_rows_of(relation, 'customer_key in '
                  ~ '(select customer_key from raw.touched_customers)') ~ ' dbt_subquery') -%}
{%- endmacro %}

{% macro okendo_is_built(rows) -%}
    {#- Whether `rows` (what okendo_test_rows gave) is the copy of a model's rebuilt rows: one
        of the relations okendo_built_relation names, compared as relations. -#}
    {%- if execute and rows is not string -%}
        {%- for node in okendo_incremental_models()
                if okendo_built_relation(node.name) == rows -%}
            {%- do return(true) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- do return(false) -%}
{%- endmacro %}

{% macro default__test_relationships(model, column_name, to, field) -%}
{#- dbt's own test, but when the child rows are the copy of the touched customers' rows and
    both sides are the customer's key, only the parent's rows of those customers can match:
    read them from the build's copy rather than every row of the parent. -#}
{%- set parent = to -%}
{%- if column_name == 'customer_key' and field == 'customer_key' and okendo_is_built(model) -%}
    {%- set parent = okendo_built(to) or to -%}
{%- endif -%}
with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),

parent as (
    select {{ field }} as to_field
    from {{ parent }}
)

select
    from_field

from child
left join parent
    on child.from_field = parent.to_field

where parent.to_field is null
{%- endmacro %}
