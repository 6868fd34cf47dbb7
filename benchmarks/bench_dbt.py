"""The dbt build (staging, intermediate, marts and every test) over an existing warehouse:
a full build, then an incremental one that recomputes ``--touched`` customers (taken at random
and written to ``raw.touched_customers``, as a load of that many customers' records would).

As a reference measured in the same run, one plain DuckDB query computes the review and loyalty
aggregates alone from the raw tables; the ratios show what the model layer costs beyond that
core, and what an incremental build costs next to a full one.

    python benchmarks/bench_dbt.py --database /path/to/okendo.duckdb --runs 3 --touched 100
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import duckdb

from okendo_pipeline.lib.incremental import INCREMENTAL_EXCLUDE
from okendo_pipeline.lib.okendo.loader import ensure_schema

DBT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"

REFERENCE_SQL = """
with reviews as (
    select customer_key, count(*) as n, round(avg((resource ->> '$.rating')::int), 2) as avg_rating
    from raw.current_resources where resource_type = 'review' group by all
),
ledger as (
    select customer_key, sum(case resource_type
        when 'loyalty_earning_transaction' then (resource ->> '$.points')::bigint
        when 'loyalty_redemption_transaction' then -(resource ->> '$.pointsSpent')::bigint
        else (resource ->> '$.amount')::bigint end) as balance
    from raw.current_resources
    where resource_type like 'loyalty_%_transaction' and resource ->> '$.status' = 'complete'
    group by all
)
select count(*) from reviews full join ledger using (customer_key)
"""


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def dbt_build(database: str, as_of: str, *, full: bool) -> None:
    args = ["dbt", "build", "--profiles-dir", str(DBT_DIR), "--project-dir", str(DBT_DIR)]
    args += ["--vars", json.dumps({"as_of": as_of, "duckdb_path": database})]
    # what the pipeline's plan adds (BuildPlan.dbt_args), but with dbt's JSON written
    args += ["--full-refresh"] if full else ["--exclude", INCREMENTAL_EXCLUDE]
    subprocess.run(args, check=True, env=dict(os.environ), capture_output=True)


def touch(database: str, customers: int) -> None:
    """Mark ``customers`` random customers as touched by a load."""
    conn = duckdb.connect(database)
    ensure_schema(conn)  # the loader's raw tables, raw.touched_customers among them
    conn.execute("delete from raw.touched_customers")
    conn.execute(
        "insert into raw.touched_customers select customer_key, 'bench' "
        f"from marts.customer_profiles using sample {int(customers)} rows"
    )
    conn.close()


def reference(database: str) -> None:
    conn = duckdb.connect(database, read_only=True)
    conn.execute(REFERENCE_SQL).fetchall()
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--as-of", default="2026-11-01")
    parser.add_argument(
        "--touched", type=int, default=100, help="customers an incremental build recomputes"
    )
    args = parser.parse_args()
    builds, incrementals, refs = [], [], []
    for _ in range(args.runs):
        builds.append(timed(lambda: dbt_build(args.database, args.as_of, full=True)))
        touch(args.database, args.touched)
        incrementals.append(timed(lambda: dbt_build(args.database, args.as_of, full=False)))
        refs.append(timed(lambda: reference(args.database)))
    conn = duckdb.connect(args.database, read_only=True)
    profiles, events = conn.execute(
        "select (select count(*) from marts.customer_profiles), "
        "(select count(*) from marts.customer_events)"
    ).fetchone()
    conn.close()
    build, ref = statistics.median(builds), statistics.median(refs)
    incremental = statistics.median(incrementals)
    print(f"{profiles:,} profiles, {events:,} events; medians of {args.runs} run(s)")
    print(f"  full dbt build (models + tests)         {build:7.1f} s")
    print(f"  incremental, {args.touched:,} customers touched  {incremental:7.1f} s")
    print(f"  reference aggregate query               {ref:7.1f} s")
    print(f"  full / reference                        {build / ref:7.1f}x")
    print(f"  incremental / full                      {incremental / build:7.2f}x")


if __name__ == "__main__":
    main()
