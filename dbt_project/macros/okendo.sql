{#- Casting helpers for Okendo's JSON fields: staging models only rename and cast. -#}

{%- macro okendo_timestamp(json_path) -%}
{#- A zoned ISO 8601 timestamp as a UTC timestamp; anything else is absent (specification,
    "Fine print: input"). The pattern is the project var the ingestion rules read too. -#}
case
    when regexp_full_match(resource ->> '{{ json_path }}', '{{ var("timestamp_pattern") }}')
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

{%- macro okendo_parse_once() -%}
{#- Wraps a staging model so each row's JSON document is parsed once per kind of read, not once
    per field: every `resource ->> '<path>'` (text) and `resource -> '<path>'` (JSON) in the
    model becomes an item of one json_extract_string / json_extract over the list of paths,
    which gives the same values. The model must end in `from source`. At 1,000,000 customers
    stg_okendo__review_requests went from 9.0 s to 3.4 s, and every intermediate model reads
    the staging views. -#}
{%- set ns = namespace(body=caller(), columns=[]) -%}
{%- for op, column, function in [
        ('->>', 'resource_texts', 'json_extract_string'),
        ('->', 'resource_parts', 'json_extract')] -%}
    {%- set paths = [] -%}
    {%- for path in modules.re.findall("resource " ~ op ~ " '(\\$[^']*)'", ns.body) -%}
        {%- if path not in paths -%}{%- do paths.append(path) -%}{%- endif -%}
    {%- endfor -%}
    {%- for path in paths -%}
        {%- set ns.body = ns.body.replace("resource " ~ op ~ " '" ~ path ~ "'",
                                          column ~ "[" ~ loop.index ~ "]") -%}
    {%- endfor -%}
    {%- if paths -%}
        {%- do ns.columns.append(function ~ "(resource, ['" ~ paths | join("', '") ~ "']) as "
                                 ~ column) -%}
    {%- endif -%}
{%- endfor -%}
{%- set ends = modules.re.findall("\\bfrom source\\s*$", ns.body) -%}
{%- if ends | length != 1 -%}
    {{ exceptions.raise_compiler_error("okendo_parse_once: the model must end in `from source`") }}
{%- endif -%}
{{ modules.re.sub("\\bfrom source\\s*$",
                  "from (select *, " ~ ns.columns | join(", ") ~ " from source) as source\n",
                  ns.body) }}
{%- endmacro -%}

{%- macro okendo_current(scoped, resource_type) -%}
select * from {{ okendo_current_relation(scoped) }}
where resource_type = '{{ resource_type }}'
{%- endmacro -%}

{%- macro okendo_current_relation(scoped) -%}
{#- The current state a staging model reads: all of it (the views), or the build's scope (an
    incremental build, okendo_staged). -#}
{%- if scoped -%} raw.okendo_scope_current {%- else -%} {{ source('okendo_raw', 'current_resources') }} {%- endif -%}
{%- endmacro -%}

{%- macro okendo_history_relation(scoped) -%}
{%- if scoped -%} raw.okendo_scope_history {%- else -%} {{ source('okendo_raw', 'envelopes') }} {%- endif -%}
{%- endmacro -%}

{%- macro okendo_as_of() -%}
{#- The run's reference date: var('as_of') (ISO date), else today in UTC. -#}
{%- set as_of = var('as_of', none) -%}
{%- if as_of -%} date '{{ as_of }}' {%- else -%} (timezone('UTC', now()))::date {%- endif -%}
{%- endmacro -%}

{%- macro okendo_birthday_in(year, month, day) -%}
{#- The birthday in a given year; 29 February falls on 28 February in non-leap years. -#}
make_date({{ year }}, {{ month }}, least({{ day }}, day(last_day(make_date({{ year }}, {{ month }}, 1)))))
{%- endmacro -%}

{%- macro okendo_next_birthday(month, day, as_of) -%}
{#- The next occurrence on or after as_of. -#}
case
    when {{ okendo_birthday_in('year(' ~ as_of ~ ')', month, day) }} >= {{ as_of }}
    then {{ okendo_birthday_in('year(' ~ as_of ~ ')', month, day) }}
    else {{ okendo_birthday_in('year(' ~ as_of ~ ') + 1', month, day) }}
end
{%- endmacro -%}

{%- macro okendo_event_id(parts) -%}
{#- Deterministic event id: the source record's identity, readable, at most 512 bytes (long
    ids are replaced by their sha256). Same record, same id, on any machine and rebuild. -#}
{%- set raw = "concat_ws(':', " ~ (parts | join(', ')) ~ ")" -%}
case when strlen({{ raw }}) <= 512 then {{ raw }} else 'sha256:' || sha256({{ raw }}) end
{%- endmacro -%}

{%- macro okendo_iso_second(ts) -%}
{#- A timestamp passed through as a property: UTC, to the second (specification, "Fine print: events"). -#}
strftime({{ ts }}, '%Y-%m-%dT%H:%M:%SZ')
{%- endmacro -%}

{%- macro okendo_snake_case(text) -%}
{#- Specification, "Fine print: profiles": camelCase split, every run of other characters becomes `_`, lower case
    ("Skin Type" and "skinType" both give skin_type). -#}
lower(regexp_replace(
    regexp_replace({{ text }}, '([a-z0-9])([A-Z])', '\1_\2', 'g'),
    '[^A-Za-z0-9]+', '_', 'g'
))
{%- endmacro -%}

{%- macro okendo_first_nps(answers) -%}
{#- A survey response's NPS score: its first answer of type nps (specification, "Fine print: events"). -#}
try_cast(
    list_filter(json_extract({{ answers }}, '$[*]'), lambda a: (a ->> '$.questionType') = 'nps')[1]
        ->> '$.value' as integer
)
{%- endmacro -%}

{%- macro okendo_nps_category(score) -%}
case
    when {{ score }} >= 9 then 'promoter'
    when {{ score }} >= 7 then 'passive'
    when {{ score }} >= 0 then 'detractor'
end
{%- endmacro -%}

{#- Incremental builds (specification, "Freshness"). A build after a load recomputes only the
    customers the load touched (raw.touched_customers, written by ingestion): every
    intermediate and mart model deletes their rows first (okendo_delete_touched, its pre-hook)
    and inserts what it computes from their source rows (okendo_scoped), which staging gives
    from a copy of the touched customers' records made before the models (okendo_staged,
    okendo_build_scope). A full build (the first, --full-refresh, a new as_of or points
    expiry) recomputes everything. -#}

{%- macro okendo_touched() -%}
(select customer_key from {{ source('okendo_raw', 'touched_customers') }})
{%- endmacro -%}

{%- macro okendo_scoped(relation, key='customer_key') -%}
{#- What a model reads of `relation`: all of it in a full build; in an incremental build the
    rows of the touched customers, from the copy this build kept of them (okendo_built) or,
    without one, filtered on `key`. -#}
{%- set built = okendo_built(relation) if key == 'customer_key' else none -%}
{%- if not is_incremental() -%}
{{ relation }}
{%- elif built is not none -%}
{{ built }}
{%- elif relation.schema == 'staging' -%}
(select * from {{ okendo_staged(relation) }} where {{ key }} in {{ okendo_touched() }})
{%- else -%}
{{ okendo_rows_of(relation, key ~ ' in ' ~ okendo_touched()) }}
{%- endif -%}
{%- endmacro -%}

{%- macro okendo_rows_of(relation, condition) -%}
{#- The rows of a table that meet `condition`, picked by row id first: a filter on the table
    itself read every column of every row before dropping most of them (100 customers' rows
    of int_events_reviews, 1.6 million rows: 0.6-3.5 s filtered, 0.16-0.2 s by row id). -#}
(select * from {{ relation }} where rowid in (select rowid from {{ relation }} where {{ condition }}))
{%- endmacro -%}

{%- macro okendo_incremental_build(commands=('build', 'run')) -%}
{#- This invocation is one of `commands` without --full-refresh: by default, a build that
    recomputes the touched customers' rows (`dbt build` or `dbt run`). -#}
{%- do return(execute and not flags.FULL_REFRESH and flags.WHICH in commands) -%}
{%- endmacro -%}

{%- macro okendo_incremental_models() -%}
{#- The incremental models: an incremental build recomputes their rows of the touched customers,
    which it finds by customer_key (okendo_delete_touched). A unit test's graph has no nodes:
    its model reads the test's given rows whole. -#}
{%- set models = [] -%}
{%- for node in graph.get('nodes', {}).values()
        if node.resource_type == 'model' and node.config.materialized == 'incremental' -%}
{%- do models.append(node) -%}
{%- endfor -%}
{%- do return(models) -%}
{%- endmacro -%}

{%- macro okendo_incremental_model(relation) -%}
{#- The incremental model stored in `relation`, or none. -#}
{%- for node in okendo_incremental_models()
        if node.schema == relation.schema and node.alias == relation.identifier -%}
{%- do return(node) -%}
{%- endfor -%}
{%- do return(none) -%}
{%- endmacro -%}

{%- macro okendo_built(relation) -%}
{#- The copy of the rows this incremental build wrote to `relation` (okendo_keep_built), when
    it is an incremental model the build selected; else none. Downstream models and the tests
    read the copy: finding the touched customers' rows again scanned the key column of every
    row (5.7 million in customer_events) once per reader, most of a micro-batch's SQL time. A
    model built alone (a selection in the UI), or downstream of a model the build left out
    (incremental.left_out), reads those tables filtered (okendo_rows_of). -#}
{%- set node = okendo_incremental_model(relation) if okendo_incremental_build() else none -%}
{%- if node is not none and node.unique_id in selected_resources -%}
{%- do return(okendo_built_relation(node.name)) -%}
{%- endif -%}
{%- do return(none) -%}
{%- endmacro -%}

{%- macro okendo_built_relation(name) -%}
{%- do return(api.Relation.create(database=target.database, schema='raw', identifier='okendo_scope_' ~ name)) -%}
{%- endmacro -%}

{%- macro okendo_keep_built() -%}
{#- post-hook of the incremental models, in an incremental build: copy the rows just written
    for the touched customers, for okendo_built. They are the rows of dbt-duckdb's temporary
    table, still there when the post-hook runs; read from the model instead they cost a scan of
    its key column (0.5 s in customer_events). A model rebuilt whole (a table created since the
    last build), or a temporary table not found, is read filtered. Dropped with the scope at
    the end of the build. -#}
{%- if okendo_incremental_build() -%}
{%- set temporary = none -%}
{%- if is_incremental() -%}
{%- set found = run_query(
        "select table_name from duckdb_tables() where temporary and starts_with(table_name, '"
        ~ this.identifier ~ "__dbt_tmp') order by table_name desc limit 1") -%}
{%- set temporary = found.columns[0].values()[0] if found.rows | length else none -%}
{%- endif -%}
create or replace table {{ okendo_built_relation(model.name) }} as
{% if temporary is not none -%}
select * from temp.main.{{ adapter.quote(temporary) }}
{%- else -%}
select * from {{ okendo_rows_of(this, 'customer_key in ' ~ okendo_touched()) }}
{%- endif -%}
{%- else -%}
select 1
{%- endif -%}
{%- endmacro -%}

{%- macro okendo_staged(relation) -%}
{#- A staging model as an incremental build reads it: its SQL over the build's scope
    (okendo_build_scope), not the view over the whole current state. Each scan of the current
    state for a few touched customers read a column of every row of its type: at 1,000,000
    customers that was most of a micro-batch's models. Other relations are read as they are. -#}
{%- set staging = context.get(relation.identifier) if relation.schema == 'staging' else none -%}
{%- if is_incremental() and staging is not none -%}
({{ staging(scoped=true) }})
{%- else -%}
{{ relation }}
{%- endif -%}
{%- endmacro -%}

{%- macro okendo_only_touched(key='customer_key') -%}
{%- if is_incremental() %} where {{ key }} in {{ okendo_touched() }} {%- endif -%}
{%- endmacro -%}

{%- macro okendo_delete_touched() -%}
{%- if is_incremental() -%}
delete from {{ this }} where customer_key in {{ okendo_touched() }}
{%- else -%}
select 1
{%- endif -%}
{%- endmacro -%}

{%- macro okendo_build_scope() -%}
{#- on-run-start: the rows an incremental build's staging reads (okendo_staged), copied once
    per build (okendo_scope_sql). The pipeline's own builds copy them before dbt opens the
    warehouse, while dbt starts, and say so with the var okendo_scope_prepared; a build run by
    hand copies them here. A full build reads the views. -#}
{%- if execute and flags.WHICH in ('build', 'run') -%}
{%- if flags.FULL_REFRESH -%}
{{ okendo_drop_scope() }}
{%- elif var('okendo_scope_prepared', false) -%}
select 1
{%- else -%}
{{ okendo_scope_sql() }}
{%- endif -%}
{%- endif -%}
{%- endmacro -%}

{%- macro okendo_drop_scope() -%}
{#- on-run-end (and before a full build): the scope and the built copies are copies of people's
    records, kept no longer than the build that reads them. -#}
{%- if execute and flags.WHICH in ('build', 'run') -%}
drop table if exists raw.okendo_scope_current;
drop table if exists raw.okendo_scope_history;
{%- for node in okendo_incremental_models() %}
drop table if exists {{ okendo_built_relation(node.name) }};
{%- endfor -%}
{%- endif -%}
{%- endmacro -%}
