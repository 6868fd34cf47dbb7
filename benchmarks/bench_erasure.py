"""What an erasure costs over an existing warehouse and its landing folder, step by step.

Each run copies the warehouse and the landing folder into a work folder, picks ``--people``
random customers, and times the erasure's parts as the job runs them: the landing files
(scanned for the addresses, the ones holding them rewritten), the warehouse (one transaction:
rows deleted by key, every text column swept for mentions) and the rewrite of the warehouse
file. As a reference measured in the same run: a plain copy of the warehouse file with its
fsync, the floor of the rewrite. Destinations are not called (their removals are requests
paced at the vendors' limits: 3/s at Iterable, 50 people per Braze request).

    python benchmarks/bench_erasure.py --database /path/to/okendo.duckdb \\
        --landing /path/to/landing --people 5 --runs 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package

from okendo_pipeline.defs.braze.codec import codec as braze_codec
from okendo_pipeline.defs.iterable.codec import codec as iterable_codec
from okendo_pipeline.lib.erasure import warehouse as erasure
from okendo_pipeline.lib.erasure.addresses import python_pattern
from okendo_pipeline.lib.erasure.landing import erase_landing


def one_run(database: Path, landing: Path, people: int, work: Path) -> dict[str, float]:
    db, land = work / "okendo.duckdb", work / "landing"
    shutil.copy(database, db)
    shutil.copytree(landing, land)
    began = time.perf_counter()
    with open(db, "rb") as src, open(work / "copy.duckdb", "wb") as dst:
        shutil.copyfileobj(src, dst, 16 * 1024 * 1024)
        dst.flush()
        os.fsync(dst.fileno())
    reference = time.perf_counter() - began
    conn = duckdb.connect(str(db))
    keys = [k for (k,) in conn.execute(
        f"select customer_key from marts.customer_profiles using sample {int(people)} rows"
    ).fetchall()]  # fmt: skip
    times: dict[str, float] = {"reference_copy": reference}
    began = time.perf_counter()
    files = erasure.loaded_files_of(conn, keys)
    found = erase_landing(land, set(keys), python_pattern(keys), files)
    times["landing"] = time.perf_counter() - began
    began = time.perf_counter()
    done = erasure.erase_warehouse(conn, keys, [iterable_codec("email"), braze_codec("email")])
    times["warehouse"] = time.perf_counter() - began
    times["rewrite"] = erasure.compact(conn, str(db))
    conn.close()
    times["total"] = times["landing"] + times["warehouse"] + times["rewrite"]
    print(
        f"  {len(keys)} people: {found.files_scanned:,} landing files scanned, "
        f"{len(found.rewritten):,} rewritten; {sum(done.rows_deleted.values()):,} rows deleted, "
        f"{sum(done.cells_redacted.values()):,} mentions replaced; "
        + ", ".join(f"{k} {v:.2f}s" for k, v in times.items()),
        flush=True,
    )
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--people", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(dir=args.database.parent) as work:
            runs.append(one_run(args.database, args.landing, args.people, Path(work)))
    size = args.database.stat().st_size / 2**30
    print(f"medians of {args.runs} runs, warehouse {size:.2f} GiB, {args.people} people:")
    for part in runs[0]:
        median = statistics.median(r[part] for r in runs)
        ratio = median / statistics.median(r["reference_copy"] for r in runs)
        print(f"  {part:15} {median:8.2f}s  ({ratio:.1f}x the plain copy)")


if __name__ == "__main__":
    main()
