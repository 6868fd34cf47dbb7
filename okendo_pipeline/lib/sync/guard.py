"""The blast-radius guard: a plan that would change too much of a destination is held, not sent.

A wrong transform or a truncated export upstream shows up here as a plan that rewrites most of
the profiles a destination already holds, or blanks one field for most of them. Such a plan is
kept (the outbox) and shown, and nothing goes out until someone approves it
(``okendo-pipeline run --approve DEST``) or a newer plan, smaller, replaces it.

What counts, over the profiles the destination has acknowledged:

* **changed**: acknowledged profiles the plan sends at least one field to, leaving out fields
  that follow the calendar (``CALENDAR_FIELDS``: the next birthday moves with ``as_of``, so the
  nightly change of date, or a first run after weeks, is not a blast);
* **nulled**, per field: acknowledged profiles the plan sets that field to null for.

A destination's first sync is never held: it has nothing acknowledged to protect.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from okendo_pipeline.lib.catalogue import CALENDAR_FIELDS, PROFILE_FIELDS


@dataclass(frozen=True)
class GuardCounts:
    acknowledged: int
    changed: int
    nulled: dict[str, int]  # field -> acknowledged profiles it would set to null


def held_reason(counts: GuardCounts, max_share: float) -> str | None:
    """Why a plan with these counts is held (every rule it breaks), or None when it may go out."""
    if counts.acknowledged == 0:
        return None
    limit = f"more than OKENDO_SYNC_MAX_CHANGE_SHARE {max_share:.0%}"
    of = f"of {counts.acknowledged:,} acknowledged profiles"
    reasons = []
    if counts.changed / counts.acknowledged > max_share:
        share = counts.changed / counts.acknowledged
        reasons.append(f"would change {counts.changed:,} {of} ({share:.1%}, {limit})")
    for field, nulled in sorted(counts.nulled.items(), key=lambda kv: (-kv[1], kv[0])):
        if nulled / counts.acknowledged > max_share:
            share = nulled / counts.acknowledged
            reasons.append(f"would set {field} to null for {nulled:,} {of} ({share:.1%}, {limit})")
    return "; ".join(reasons) or None


def count(conn: duckdb.DuckDBPyConnection, run_id: str, destination: str) -> GuardCounts:
    """The guard's counts for a plan written to the outbox (one pass over the plan)."""
    calendar = ", ".join([f"'{c}'" for c in sorted(CALENDAR_FIELDS)] or ["''"])
    nulls = ", ".join(
        f"count(*) filter (where list_contains(o.changed_fields, '{f.column}') "
        f"and o.{f.column} is null)"
        for f in PROFILE_FIELDS
    )
    acknowledged = conn.execute(
        "select count(*) from sync.profile_state where destination = ?", [destination]
    ).fetchone()[0]
    row = conn.execute(
        f"""
        select count(*) filter (
                where len(list_filter(o.changed_fields, lambda x: x not in ({calendar}))) > 0
            ), {nulls}
        from sync.outbox_profiles o
        semi join (select customer_key from sync.profile_state where destination = $2) s
            on s.customer_key = o.row_key
        where o.run_id = $1 and o.destination = $2
        """,
        [run_id, destination],
    ).fetchone()
    nulled = {f.column: n for f, n in zip(PROFILE_FIELDS, row[1:], strict=True) if n}
    return GuardCounts(acknowledged=acknowledged, changed=row[0], nulled=nulled)
