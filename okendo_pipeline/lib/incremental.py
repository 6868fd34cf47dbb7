"""Whether a dbt build can be incremental, and what it consumed (specification, "Freshness").

An incremental build recomputes the customers in ``raw.touched_customers`` (written by each
load). It must be a full build instead when the models were never built, when the build's
reference date or points expiry differ from the last build's (time-dependent values change for
every customer: the day turned, or the setting changed), or when asked (``--full-refresh``).
After a build succeeds, the touched rows it took into account are removed and the build is
recorded; a failed build leaves them, so the next build recomputes those customers again.
"""

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
-- The customers each incremental build recomputed, kept a week: what the analysts' file must
-- take again (``lib/analytics.py``); a full build has no rows here (everything changed).
create table if not exists raw.built_customers (
    finished_at timestamptz not null,
    customer_key varchar not null
);
"""
BUILT_CUSTOMERS_DAYS = 7
MODELS = ("marts.customer_profiles", "marts.customer_events", "marts.customer_profile_attributes")


@dataclass(frozen=True)
class BuildPlan:
    full_refresh: bool
    reason: str
    as_of: date
    points_expiry_months: int
    load_ids: list[str] = field(default_factory=list)
    customers: int = 0


def plan_build(
    conn: duckdb.DuckDBPyConnection, as_of: date, points_expiry_months: int, *, requested: bool
) -> BuildPlan:
    """Full or incremental, and why; the loads whose touched customers the build covers."""
    loader.ensure_schema(conn)  # raw.touched_customers is the loader's
    conn.execute(DDL)
    load_ids = [r[0] for r in conn.execute(
        "select distinct load_id from raw.touched_customers order by 1"
    ).fetchall()]  # fmt: skip
    customers = conn.execute(
        "select count(distinct customer_key) from raw.touched_customers"
    ).fetchone()[0]
    last = conn.execute(
        "select as_of, points_expiry_months from raw.model_builds order by finished_at desc limit 1"
    ).fetchone()
    built = conn.execute(
        "select count(*) from information_schema.tables "
        "where table_schema || '.' || table_name in ?",
        [list(MODELS)],
    ).fetchone()[0] == len(MODELS)
    reason = (
        "asked for (--full-refresh)" if requested
        else "the models were never built" if last is None or not built
        else f"as_of changed ({last[0]} -> {as_of})" if last[0] != as_of
        else "the points expiry changed" if last[1] != points_expiry_months
        else ""
    )  # fmt: skip
    return BuildPlan(
        full_refresh=bool(reason),
        reason=reason or f"{customers:,} touched customers",
        as_of=as_of,
        points_expiry_months=points_expiry_months,
        load_ids=load_ids,
        customers=customers,
    )


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
        conn.execute(
            "insert into raw.model_builds values (now(), ?, ?, ?, ?, ?)",
            [plan.full_refresh, plan.reason, plan.as_of, plan.points_expiry_months, plan.customers],
        )
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
