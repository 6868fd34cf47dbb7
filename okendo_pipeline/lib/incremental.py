"""Whether a dbt build can be incremental, and what it consumed (specification, "Freshness").

An incremental build recomputes the customers in ``raw.touched_customers`` (written by each
load). It must be a full build instead when the models were never built, when the build's
reference date or points expiry differ from the last build's (time-dependent values change for
every customer: the day turned, or the setting changed), when the dbt project changed since the
last build (an edited model must be recomputed for every customer), or when asked
(``--full-refresh``). An incremental build leaves out what depends on the project alone, which
is unchanged since the last build ran it: the views (re-created by every full build) with their
tests, the unit tests (fixed inputs) and the event catalogue seed (its rows are the project's);
the tests of the tables it rebuilt read the touched customers' rows. It also leaves out the
intermediate models that none of the touched resource types reaches (``left_out``: a batch of
reviews cannot change a loyalty member's balance), with their tests: their rows are those of
the last build. The marts are always rebuilt. After a build succeeds, the touched rows it took
into account are removed and the build is recorded; a failed build leaves them, so the next
build recomputes them again.

An incremental build's staging reads a copy of the touched customers' records (the build's
scope, ``raw.okendo_scope_*``). The pipeline copies it itself (``prepare_scope``) while dbt
starts, before dbt opens the warehouse; a build run by hand copies it from dbt's on-run-start
hook. Both run the one dbt macro that holds its SQL.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import duckdb

from okendo_pipeline.lib.okendo import loader

DDL = """
create schema if not exists raw;
create table if not exists raw.model_builds (
    finished_at timestamptz not null,
    full_refresh boolean not null,
    reason varchar not null,
    as_of date not null,
    points_expiry_months integer not null,
    customers bigint not null
);
-- The dbt project's fingerprint (``dbt_project.project_fingerprint``); added after the table.
alter table raw.model_builds add column if not exists project varchar;
-- The intermediate models an incremental build left out (``left_out``); added after the table.
alter table raw.model_builds add column if not exists left_out varchar[];
-- The customers each incremental build recomputed, kept a week: what the analysts' file must
-- take again (``lib/analytics.py``); a full build has no rows here (everything changed).
create table if not exists raw.built_customers (
    finished_at timestamptz not null,
    customer_key varchar not null
);
"""
BUILT_CUSTOMERS_DAYS = 7
# What an incremental build leaves out (dbt selectors): see the module's docstring.
# Without the manifest's list (tests of the planning alone), the marts stand for the models.
MARTS = ("marts.customer_profiles", "marts.customer_events", "marts.customer_profile_attributes")
INCREMENTAL_EXCLUDE = "config.materialized:view resource_type:unit_test resource_type:seed"

# The macro file holding the scope's SQL (plain SQL in a Jinja macro, no dbt functions).
SCOPE_MACRO_FILE = ("macros", "okendo_scope.sql")
SCOPE_MACRO = "okendo_scope_sql"


@dataclass(frozen=True)
class BuildPlan:
    full_refresh: bool
    reason: str
    as_of: date
    points_expiry_months: int
    load_ids: list[str] = field(default_factory=list)
    customers: int = 0
    project: str | None = None
    left_out: tuple[str, ...] = ()

    def dbt_args(self) -> list[str]:
        """What ``dbt build`` needs besides its vars. An incremental build writes no
        ``manifest.json``: dbt would write it twice (after its parse and after the run, about
        0.3 s each in a micro-batch), nothing reads it from the build's target, and only a
        change of the project changes it, which makes the build full. The build's resource
        keeps ``run_results.json`` (``OkendoDbtResource.build``)."""
        if self.full_refresh:
            return ["--full-refresh"]
        return ["--exclude", " ".join([INCREMENTAL_EXCLUDE, *self.left_out]), "--no-write-json"]


def plan_build(
    conn: duckdb.DuckDBPyConnection,
    as_of: date,
    points_expiry_months: int,
    *,
    requested: bool,
    project: str | None = None,
    relations: Sequence[str] = (),
    feeds: Mapping[str, frozenset[str] | None] | None = None,
) -> BuildPlan:
    """Full or incremental, and why; the loads whose touched customers the build covers, and
    the intermediate models it leaves out (``feeds``: ``dbt_project.feeds``; none without)."""
    loader.ensure_schema(conn)  # raw.touched_customers and raw.touched_types are the loader's
    conn.execute(DDL)
    loads = conn.execute(
        """
        select l.load_id, t.resource_type
        from (select load_id from raw.touched_customers
              union select load_id from raw.touched_types) l
        left join (select distinct load_id, resource_type from raw.touched_types) t
            using (load_id)
        order by 1, 2
        """
    ).fetchall()
    load_ids = sorted({load_id for load_id, _ in loads})
    types = None if any(t is None for _, t in loads) else frozenset(t for _, t in loads)
    customers = conn.execute(
        "select count(distinct customer_key) from raw.touched_customers"
    ).fetchone()[0]
    last = conn.execute(
        "select as_of, points_expiry_months, project from raw.model_builds "
        "order by finished_at desc limit 1"
    ).fetchone()
    relations = list(relations or MARTS)
    built = conn.execute(
        "select count(*) from information_schema.tables "
        "where table_schema || '.' || table_name in ?",
        [relations],
    ).fetchone()[0] == len(relations)
    reason = (
        "asked for (--full-refresh)" if requested
        else "the models were never built" if last is None or not built
        else f"as_of changed ({last[0]} -> {as_of})" if last[0] != as_of
        else "the points expiry changed" if last[1] != points_expiry_months
        else "the dbt project changed" if project is not None and last[2] != project
        else ""
    )  # fmt: skip
    return BuildPlan(
        full_refresh=bool(reason),
        reason=reason or f"{customers:,} touched customers",
        as_of=as_of,
        points_expiry_months=points_expiry_months,
        load_ids=load_ids,
        customers=customers,
        project=project,
        left_out=() if reason else left_out(feeds or {}, types),
    )


def left_out(
    feeds: Mapping[str, frozenset[str] | None], types: frozenset[str] | None
) -> tuple[str, ...]:
    """The models an incremental build leaves out: those ``feeds`` gives types for, none of
    them touched. ``types`` None (a load that recorded none) leaves nothing out."""
    if types is None:
        return ()
    return tuple(sorted(name for name, fed in feeds.items() if fed is not None and not fed & types))


def scope_sql() -> str:
    """The SQL that copies an incremental build's scope: the dbt macro ``okendo_scope_sql``,
    rendered with Jinja alone (it uses nothing of dbt's), so the pipeline and a build run by
    hand copy the same rows."""
    import jinja2

    from okendo_pipeline.lib.dbt_project import DBT_PROJECT_DIR

    text = DBT_PROJECT_DIR.joinpath(*SCOPE_MACRO_FILE).read_text()
    return str(getattr(jinja2.Environment().from_string(text).module, SCOPE_MACRO)())


def prepare_scope(conn: duckdb.DuckDBPyConnection) -> None:
    """Copy the next incremental build's scope (``raw.okendo_scope_current`` and
    ``raw.okendo_scope_history``) from the touched customers, in one transaction. The build
    drops it when it ends (dbt's on-run-end hook)."""
    conn.execute("begin transaction")
    try:
        conn.execute(scope_sql())
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise


def finish_build(conn: duckdb.DuckDBPyConnection, plan: BuildPlan) -> None:
    """Record the build (with the customers it recomputed, when incremental) and remove the
    touched rows it covered (a full build covers all). ``now()`` is the transaction's start:
    one timestamp for the build row and its customers."""
    conn.execute(DDL)
    conn.execute("begin transaction")
    try:
        if plan.load_ids and not plan.full_refresh:
            conn.execute(
                "insert into raw.built_customers select distinct now(), customer_key "
                "from raw.touched_customers where load_id in ?",
                [plan.load_ids],
            )
        conn.execute(
            "delete from raw.built_customers where finished_at < now() - to_days(?)",
            [BUILT_CUSTOMERS_DAYS],
        )
        if plan.load_ids:
            conn.execute("delete from raw.touched_customers where load_id in ?", [plan.load_ids])
            conn.execute("delete from raw.touched_types where load_id in ?", [plan.load_ids])
        conn.execute(
            "insert into raw.model_builds (finished_at, full_refresh, reason, as_of, "
            "points_expiry_months, customers, project, left_out) "
            "values (now(), ?, ?, ?, ?, ?, ?, ?)",
            [
                *(plan.full_refresh, plan.reason, plan.as_of, plan.points_expiry_months),
                *(plan.customers, plan.project, list(plan.left_out)),
            ],
        )
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise


def record_marts_changed(conn: duckdb.DuckDBPyConnection, reason: str) -> None:
    """Record that the marts changed outside a build (a repair by hand, or a test standing in
    for an upstream bug) as a full build of the same settings: every destination's next plan
    then compares every customer rather than only those rebuilt (``lib/sync/scope.py``)."""
    conn.execute(DDL)
    conn.execute(
        "insert into raw.model_builds (finished_at, full_refresh, reason, as_of, "
        "points_expiry_months, customers, project) "
        "select now(), true, ?, as_of, points_expiry_months, 0, project from raw.model_builds "
        "order by finished_at desc limit 1",
        [reason],
    )
