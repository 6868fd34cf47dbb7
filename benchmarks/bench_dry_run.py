"""A first-sync dry run per destination over an existing warehouse: how long it takes and how
much it adds to the file, with the plan (the diff) timed apart as the reference.

Each run copies the warehouse into a new file in a work folder without the ``sync`` schema
(every destination is then new: its first sync plans every profile), and runs each destination's dry
run as the sync job does (``begin_run`` then ``deliver``); the file is checkpointed again and
measured. Run it from another checkout's folder to measure that code (it imports the package
of the checkout it sits in).

    python benchmarks/bench_dry_run.py --database /path/to/okendo.duckdb --runs 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package

from okendo_pipeline.defs.braze.codec import codec as braze_codec
from okendo_pipeline.defs.iterable.codec import codec as iterable_codec
from okendo_pipeline.lib.sync.run import begin_run, deliver
from okendo_pipeline.lib.sync.settings import SyncSettings


def one_run(database: Path, as_of: date, work: Path) -> dict[str, float]:
    db, copy = work / "okendo.duckdb", work / "source.duckdb"
    shutil.copy(database, copy)
    with duckdb.connect(str(copy)) as source:  # no free blocks for the dry run to fill
        source.execute("drop schema if exists sync cascade")
        source.execute(f"attach '{db}' as fresh")
        source.execute("copy from database source to fresh")
    copy.unlink()
    conn = duckdb.connect(str(db))
    before = db.stat().st_size
    times: dict[str, float] = {}
    settings = SyncSettings(as_of=as_of, dry_run=True)
    for codec in (iterable_codec("email"), braze_codec("email")):
        began = time.perf_counter()
        report = begin_run(conn, codec, uuid.uuid4().hex, settings)
        times[f"{codec.name}_plan"] = time.perf_counter() - began
        deliver(conn, codec, None, report)
        times[f"{codec.name}_total"] = time.perf_counter() - began
    conn.execute("checkpoint")
    conn.close()
    times["growth_mb"] = (db.stat().st_size - before) / 2**20
    print("  " + ", ".join(f"{k} {v:.2f}" for k, v in times.items()), flush=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date.today())
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(dir=args.database.parent) as work:
            runs.append(one_run(args.database, args.as_of, Path(work)))
    print(f"medians of {args.runs} runs (seconds; growth in MiB):")
    for part in runs[0]:
        median = statistics.median(r[part] for r in runs)
        line = f"  {part:16} {median:9.2f}"
        if part.endswith("_total"):
            plan = statistics.median(r[part.replace("_total", "_plan")] for r in runs)
            line += f"  ({median / plan:.1f}x the plan alone)"
        print(line)


if __name__ == "__main__":
    main()
