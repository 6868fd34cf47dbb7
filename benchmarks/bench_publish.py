"""The analysts' file: a full publish (every table copied into a new file) and a publish of the
changes (a copy of the last file with ``--changed`` customers' rows taken again), and one after a
full build (the copy, with the changed customers found by comparing it with the warehouse), over
an existing warehouse.

The changes are marked as an incremental build and a sync record them: ``--changed`` random
customers in ``raw.built_customers`` under a new ``raw.model_builds`` row, and as many
acknowledged profiles stamped now in ``sync.profile_state`` (the marts themselves are left as
they are; the publish deletes and inserts those customers' rows either way). As a reference
measured in the same run: a plain copy of the published file, with its fsync, which is the
floor of a publish of the changes.

Writes bookkeeping rows into the warehouse: run it on a copy or a benchmark's work folder.

    python benchmarks/bench_publish.py --database /path/to/okendo.duckdb --runs 3 --changed 100
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package

from okendo_pipeline.lib import analytics, incremental


def mark_changes(conn: duckdb.DuckDBPyConnection, customers: int) -> None:
    """Record ``customers`` random customers as recomputed by an incremental build, and as
    many acknowledged profiles as just acknowledged."""
    conn.execute(incremental.DDL)
    conn.execute("begin")
    conn.execute(
        "insert into raw.built_customers select now(), customer_key "
        f"from marts.customer_profiles using sample {int(customers)} rows"
    )
    conn.execute(
        "insert into raw.model_builds (finished_at, full_refresh, reason, as_of, "
        "points_expiry_months, customers, project) select now(), false, 'bench_publish', as_of, "
        "points_expiry_months, ?, project from raw.model_builds order by finished_at desc limit 1",
        [customers],
    )
    conn.execute("commit")
    with contextlib.suppress(duckdb.CatalogException):  # never synced: nothing acknowledged
        conn.execute(
            "update sync.profile_state set acknowledged_at = now() where customer_key in "
            f"(select customer_key from sync.profile_state using sample {int(customers)} rows)"
        )


def mark_full_build(conn: duckdb.DuckDBPyConnection) -> None:
    """Record a full build, as the nightly refresh on a new day does: the build log no longer
    says what changed, so the publish compares the tables with the last file."""
    conn.execute(
        "insert into raw.model_builds select now(), true, 'bench_publish', as_of, "
        "points_expiry_months, 0 from raw.model_builds order by finished_at desc limit 1"
    )


def copy_reference(source: Path, folder: Path) -> float:
    began = time.perf_counter()
    copy = folder / "reference-copy.duckdb"
    shutil.copyfile(source, copy)
    with copy.open("rb") as fh:
        os.fsync(fh.fileno())
    seconds = time.perf_counter() - began
    copy.unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--changed", type=int, default=100, help="customers changed per run")
    args = parser.parse_args()
    database = Path(args.database).resolve()
    folder = Path(tempfile.mkdtemp(prefix="bench-publish-", dir=database.parent))
    target = folder / "okendo_analytics.duckdb"
    fulls, changes, compared, references = [], [], [], []
    try:
        with duckdb.connect(str(database)) as conn:
            for _ in range(args.runs):
                target.unlink(missing_ok=True)
                done = analytics.publish(conn, target)
                assert done.mode == "full", done
                fulls.append(done.seconds)
                references.append(copy_reference(target, folder))
                mark_changes(conn, args.changed)
                done = analytics.publish(conn, target)
                assert done.mode == "changes", done
                changes.append(done.seconds)
                mark_full_build(conn)
                mark_changes(conn, args.changed)  # the sync's acknowledgements, taken too
                done = analytics.publish(conn, target)
                assert done.mode == "compared", done
                compared.append(done.seconds)
            tables = analytics.tables_to_publish(conn)
            rows = sum(analytics.row_counts(conn, tables).values())
        size = target.stat().st_size
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    full, change, compare, ref = (
        statistics.median(x) for x in (fulls, changes, compared, references)
    )
    print(f"{len(tables)} tables, {rows:,} rows, {size / 2**30:.2f} GiB; medians of {args.runs}")
    lines = [
        ("full publish (every table copied)", f"{full:7.2f} s"),
        (f"publish of {args.changed:,} changed customers", f"{change:7.2f} s"),
        ("publish after a full build (tables compared)", f"{compare:7.2f} s"),
        ("reference: copy of the file, with fsync", f"{ref:7.2f} s"),
        ("full / reference", f"{full / ref:7.1f}x"),
        ("changes / reference", f"{change / ref:7.1f}x"),
        ("changes / full", f"{change / full:7.2f}x"),
        ("compared / full", f"{compare / full:7.2f}x"),
    ]
    for label, value in lines:
        print(f"  {label:<44}{value}")


if __name__ == "__main__":
    main()
