"""Which customers a plan compares: all of them, or only those rebuilt since the last plan.

A micro-batch changes a handful of customers, and comparing all 1,000,000 profiles and 5,700,000
events with what a destination acknowledged cost 3-5 s per destination at that size. A plan may
look at fewer customers only where it is certain to find the same rows the whole comparison
would find, so it is scoped when all of this holds, and compares everything otherwise:

* the destination's last real (not dry) run succeeded: every row it planned has an outcome,
  acknowledged or kept in ``sync.profile_issues`` / the event ledger (a failed, interrupted or
  held run leaves planned rows with neither);
* that run recorded which builds it had seen (``built_through``) and the same identity and
  removal rules (``rules``: a change of ``BRAZE_EXTERNAL_ID`` re-identifies everyone);
* every build since then was incremental (a full build may change anyone: a new day, a changed
  model) and is still within ``raw.built_customers``' retention.

The scope is then the customers those builds recomputed (``raw.built_customers``) and the
customers whose last send failed (retried by every run). Events that are not new (``pending``,
``failed`` or left ``sending``) are found through the ledger in either case. Dry runs always
compare everything: they preview the whole difference and record nothing to build on.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from okendo_pipeline.lib.incremental import BUILT_CUSTOMERS_DAYS
from okendo_pipeline.lib.sync.codec import Codec
from okendo_pipeline.lib.warehouse import table_exists

SCOPE_TABLE = "sync_scope"


@dataclass(frozen=True)
class PlanScope:
    """``scoped``: the plan reads only the customers in the temp table ``sync_scope``;
    ``reason``: why it is whole or how many customers it covers (in the run's log);
    ``built_through``: the last build the plan sees (recorded on the run for the next plan)."""

    scoped: bool
    reason: str
    built_through: datetime | None


def rules_of(codec: Codec, clear_removed: bool) -> str:
    """A fingerprint of what decides which rows a plan finds besides the marts: the identity
    rule, whether profile answers are sent, and what happens to removed customers."""
    parts = [codec.identity_kind_sql, codec.identity_sql, codec.with_attributes, clear_removed]
    text = "|".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def decide(
    conn: duckdb.DuckDBPyConnection, destination: str, run_id: str, rules: str, *, dry_run: bool
) -> PlanScope:
    """Whether this run's plan may be scoped, and (when it may) the temp table ``sync_scope``
    of the customers to compare. Called inside the plan's transaction."""
    has_builds = table_exists(conn, "raw.model_builds")
    built_through = (
        conn.execute("select max(finished_at) from raw.model_builds").fetchone()[0]
        if has_builds
        else None
    )

    def whole(reason: str) -> PlanScope:
        return PlanScope(False, f"every customer: {reason}", built_through)

    if dry_run:
        return whole("a dry run previews the whole difference")
    if not has_builds or built_through is None:
        return whole("no build is recorded")
    last = conn.execute(
        """
        select status, built_through, plan_rules from sync.runs
        where destination = ? and run_id <> ? and not dry_run
        order by started_at desc limit 1
        """,
        [destination, run_id],
    ).fetchone()
    if last is None:
        return whole("the destination's first run")
    status, last_through, last_rules = last
    if status != "succeeded":
        return whole(f"the last run is {status}")
    if last_through is None:
        return whole("the last run recorded no build")
    if last_rules != rules:
        return whole("the identity or removal settings changed")
    oldest_kept = datetime.now(last_through.tzinfo) - timedelta(days=BUILT_CUSTOMERS_DAYS - 1)
    if last_through < oldest_kept:
        return whole(f"the last run is older than {BUILT_CUSTOMERS_DAYS - 1} days")
    full_builds = conn.execute(
        "select count(*) from raw.model_builds where finished_at > ? and full_refresh",
        [last_through],
    ).fetchone()[0]
    if full_builds:
        return whole("a full build ran since the last run")
    conn.execute(
        f"""
        create or replace temp table {SCOPE_TABLE} as
        select distinct customer_key from (
            select customer_key from raw.built_customers where finished_at > ?
            union all
            select customer_key from sync.profile_issues
            where destination = ? and status = 'failed'
        )
        """,
        [last_through, destination],
    )
    n = conn.execute(f"select count(*) from {SCOPE_TABLE}").fetchone()[0]
    who = "1 customer" if n == 1 else f"{n:,} customers"
    return PlanScope(True, f"{who} rebuilt or failed since the last run", built_through)
