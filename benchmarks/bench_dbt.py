"""The dbt build (staging, intermediate, marts and every test) over an existing warehouse.

As a reference measured in the same run, one plain DuckDB query computes the review and loyalty
aggregates alone from the raw tables; the ratio shows what the whole model layer costs beyond
that core.

    python benchmarks/bench_dbt.py --database /path/to/okendo.duckdb --runs 3
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


def dbt_build(database: str, as_of: str) -> None:
    env = {**os.environ, "OKENDO_DUCKDB_PATH": database}
    subprocess.run(
        [
            "dbt",
            "build",
            "--profiles-dir",
            str(DBT_DIR),
            "--project-dir",
            str(DBT_DIR),
            "--vars",
            json.dumps({"as_of": as_of}),
        ],
        check=True,
        env=env,
        capture_output=True,
    )


def reference(database: str) -> None:
    conn = duckdb.connect(database, read_only=True)
    conn.execute(REFERENCE_SQL).fetchall()
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--as-of", default="2026-11-01")
    args = parser.parse_args()
    builds, refs = [], []
    for _ in range(args.runs):
        builds.append(timed(lambda: dbt_build(args.database, args.as_of)))
        refs.append(timed(lambda: reference(args.database)))
    conn = duckdb.connect(args.database, read_only=True)
    profiles, events = conn.execute(
        "select (select count(*) from marts.customer_profiles), "
        "(select count(*) from marts.customer_events)"
    ).fetchone()
    conn.close()
    build, ref = statistics.median(builds), statistics.median(refs)
    print(f"{profiles:,} profiles, {events:,} events; medians of {args.runs} run(s)")
    print(f"  dbt build (models + tests)   {build:7.1f} s")
    print(f"  reference aggregate query    {ref:7.1f} s")
    print(f"  build / reference            {build / ref:7.1f}x")


if __name__ == "__main__":
    main()
