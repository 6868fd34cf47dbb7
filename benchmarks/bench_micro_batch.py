"""Benchmark: what a micro-batch of a few new envelopes costs in the warehouse, against a full
build of the same warehouse, through ``okendo-pipeline run`` (specification, "Freshness").

Run against a built warehouse and its landing folder (``okendo-pipeline run`` on a generated
folder). On a copy of both, in a work folder:

1. set-up: a first sync of both destinations to the fakes (no limits, no pacing, no events), so
   the later plans compare against acknowledged state as in production;
2. ``--runs`` micro-batches: ``--envelopes`` new review envelopes for as many existing customers,
   in one new landing file, then ``okendo-pipeline run`` with both destinations on; the load and
   models seconds are the command's own lines, the diff is each destination's plan
   (``sync.runs.diff_seconds``);
3. the reference, in the same run: ``okendo-pipeline run --full-refresh`` on the same copy (a
   full build, whose plans compare every customer).

Prints the medians of the micro-batches, the full run, and the ratio of their warehouse time
(load + models + diff).

    python benchmarks/bench_micro_batch.py --database /tmp/m/base.duckdb --landing /tmp/m/landing
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT)]  # bench_destinations, fakes

from bench_destinations import Fakes

from okendo_fakes.__main__ import DEMO_BRAZE_KEY, DEMO_ITERABLE_KEY
from okendo_pipeline.defs.braze.resources import BrazeResource
from okendo_pipeline.defs.iterable.resources import IterableResource
from okendo_pipeline.lib import warehouse
from okendo_pipeline.lib.okendo.contract.rules import ENVELOPE_VERSION
from okendo_pipeline.lib.sync.run import begin_run, deliver
from okendo_pipeline.lib.sync.settings import SyncSettings

STEP = re.compile(r"^(load|models): .*; ([0-9.]+)s")


def first_sync(db: str, fakes: Fakes, as_of: date) -> None:
    """Both destinations acknowledge every profile; pacing off (the fakes have no limits)."""
    resources = [
        IterableResource(api_key=DEMO_ITERABLE_KEY, base_url=fakes.iterable, rate_fraction=0),
        BrazeResource(api_key=DEMO_BRAZE_KEY, rest_endpoint=fakes.braze, rate_fraction=0),
    ]
    settings = SyncSettings(as_of=as_of, events_backfill_start="none")
    for res in resources:
        with warehouse.connect(db) as conn, res.sender() as sender:
            report = begin_run(conn, res.codec(), str(uuid.uuid4()), settings)
            report = deliver(conn, res.codec(), sender, report)
        print(f"  set-up: {report.destination} first sync, {report.profiles_accepted:,} profiles")


def review(suffix: str, email: str) -> dict:
    return {
        "resourceType": "review", "topic": "create", "sequenceNumber": "9" * 12,
        "version": ENVELOPE_VERSION,
        "resource": {
            "reviewId": f"bench-{suffix}", "productId": "shopify-1", "productName": "Serum",
            "rating": 5, "sentiment": "positive", "status": "approved",
            "dateCreated": "2026-10-31T12:00:00.000Z", "reviewer": {"email": email},
        },
    }  # fmt: skip


def land_reviews(db: str, landing: Path, n: int, batch: int) -> None:
    """``n`` new reviews by existing customers, in one new landing file."""
    with duckdb.connect(db, read_only=True) as conn:
        emails = [e for (e,) in conn.execute(
            "select email from marts.customer_profiles where email is not null "
            f"using sample reservoir({int(n)} rows) repeatable ({batch})"
        ).fetchall()]  # fmt: skip
    lines = [json.dumps(review(f"{batch}-{i}", email)) for i, email in enumerate(emails)]
    (landing / "review" / f"bench-{batch}.jsonl").write_text("\n".join(lines) + "\n")


def run(work: Path, env: dict[str, str], *extra: str) -> dict[str, float]:
    """``okendo-pipeline run``: its load and models seconds, and each destination's diff."""
    args = ["okendo-pipeline", "run", "--landing", str(work / "landing")]
    args += ["--database", str(work / "w.duckdb"), *extra]
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}")
    out = {m.group(1): float(m.group(2)) for line in proc.stdout.splitlines()
           if (m := STEP.match(line))}  # fmt: skip
    with duckdb.connect(str(work / "w.duckdb"), read_only=True) as conn:
        for dest, diff in conn.execute(
            "select destination, diff_seconds from sync.runs "
            "qualify row_number() over (partition by destination order by started_at desc) = 1"
        ).fetchall():
            out[f"diff {dest}"] = diff
    out["warehouse"] = sum(out.values())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="a built warehouse (copied)")
    parser.add_argument("--landing", required=True, help="its landing folder (hard-linked)")
    parser.add_argument("--work", default="/tmp/okendo-bench-micro-batch")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--envelopes", type=int, default=100)
    parser.add_argument("--as-of", default="2026-11-01")
    args = parser.parse_args()

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    subprocess.run(["cp", "-al", args.landing, str(work / "landing")], check=True)
    shutil.copy(args.database, work / "w.duckdb")
    as_of = date.fromisoformat(args.as_of)
    fakes = Fakes(limits=False)
    try:
        first_sync(str(work / "w.duckdb"), fakes, as_of)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OKENDO_", "DAGSTER_"))}
        env |= {
            "OKENDO_AS_OF": args.as_of,
            "OKENDO_ANALYTICS_PATH": str(work / "analytics.duckdb"),
            "DAGSTER_HOME": str(work / "dagster_home"),
            "ITERABLE_API_KEY": DEMO_ITERABLE_KEY,
            "ITERABLE_BASE_URL": fakes.iterable,
            "BRAZE_API_KEY": DEMO_BRAZE_KEY,
            "BRAZE_REST_ENDPOINT": fakes.braze,
        }
        (work / "dagster_home").mkdir()
        run(work, env)  # the first analysts' file, so micro-batches publish only changes
        batches = []
        for n in range(args.runs):
            land_reviews(str(work / "w.duckdb"), work / "landing", args.envelopes, n)
            batches.append(run(work, env))
            print(f"  micro-batch {n + 1}: " + ", ".join(
                f"{k} {v:.2f}s" for k, v in batches[-1].items()))  # fmt: skip
        full = run(work, env, "--full-refresh")
        print("  full refresh: " + ", ".join(f"{k} {v:.2f}s" for k, v in full.items()))
    finally:
        fakes.close()

    with duckdb.connect(str(work / "w.duckdb"), read_only=True) as conn:
        profiles = conn.execute("select count(*) from marts.customer_profiles").fetchone()[0]
    print(f"{profiles:,} profiles; {args.envelopes} new envelopes per micro-batch, "
          f"medians of {args.runs}")  # fmt: skip
    for key in full:
        median = statistics.median(b.get(key, 0.0) for b in batches)
        print(f"  {key:<16} micro-batch {median:7.2f} s   full {full[key]:7.2f} s")
    ratio = statistics.median(b["warehouse"] for b in batches) / full["warehouse"]
    print(f"  micro-batch / full (load + models + diff): {ratio:.3f}x")


if __name__ == "__main__":
    main()
