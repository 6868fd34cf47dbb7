"""Benchmark: the landing folder after a day of 5-second webhook files, as loads see it.

The receiver publishes one file per resource type every 5 s under constant traffic: 17,280
files a day per type. This writes ``--types`` folders of ``--files`` small files each (a few
envelopes per file), loads them once, then measures what every micro-batch pays as they pile
up: the landing sensor's fingerprint, a load that finds nothing new, and a load of one new
file. Reference in the same run: listing the folders with ``os.scandir``.

    python benchmarks/bench_small_files.py --files 17280 --types 8 --runs 3
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from okendo_pipeline.defs.okendo.sensors import fingerprint
from okendo_pipeline.lib import warehouse
from okendo_pipeline.lib.okendo.loader import load_landing
from okendo_pipeline_tests.samples import envelope

TYPES = [
    "review", "loyalty_earning_transaction", "loyalty_redemption_transaction",
    "loyalty_adjustment_transaction", "loyalty_customer", "referral", "referrer", "customer",
    "order", "survey_response", "quiz_response", "review_request",
]  # fmt: skip


def write_folder(landing: Path, types: int, files: int) -> int:
    seq = 0
    for rt in TYPES[:types]:
        folder = landing / rt
        folder.mkdir(parents=True)
        for n in range(files):
            lines = []
            for _ in range(3):
                seq += 1
                env = envelope(rt, seq)
                lines.append(json.dumps(env))
            (folder / f"webhooks-{n:06d}.jsonl").write_text("\n".join(lines) + "\n")
    return seq


def timed(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=17_280, help="files per resource type")
    parser.add_argument("--types", type=int, default=8, help="resource types receiving webhooks")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        landing, db = Path(tmp) / "landing", str(Path(tmp) / "w.duckdb")
        started = time.perf_counter()
        envelopes = write_folder(landing, args.types, args.files)
        total = args.types * args.files
        seconds = time.perf_counter() - started
        print(f"wrote {total:,} files ({envelopes:,} envelopes) in {seconds:.1f}s")
        with warehouse.connect(db) as conn:
            started = time.perf_counter()
            load_landing(conn, landing)
            print(f"first load of all files: {time.perf_counter() - started:.1f}s")

        def scandir() -> None:
            for folder in landing.iterdir():
                with os.scandir(folder) as it:
                    for entry in it:
                        entry.stat()

        def nothing_new() -> None:
            with warehouse.connect(db) as conn:
                load_landing(conn, landing)

        counter = iter(range(10**9))

        def one_new() -> None:
            n = next(counter)
            path = landing / "review" / f"webhooks-new-{n:06d}.jsonl"
            path.write_text(json.dumps(envelope("review", 10**9 + n)) + "\n")
            with warehouse.connect(db) as conn:
                load_landing(conn, landing)

        ref = timed(scandir, args.runs)
        fp = timed(lambda: fingerprint(landing), args.runs)
        idle = timed(nothing_new, args.runs)
        new = timed(one_new, args.runs)
        print(
            f"reference: os.scandir + stat of {total:,} files: {ref:.3f}s (median of {args.runs})"
        )
        print(f"landing sensor fingerprint: {fp:.3f}s ({fp / ref:.1f}x the reference)")
        print(f"load, nothing new:          {idle:.3f}s ({idle / ref:.1f}x)")
        print(f"load, one new file:         {new:.3f}s ({new / ref:.1f}x)")


if __name__ == "__main__":
    main()
