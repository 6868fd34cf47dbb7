"""Benchmark: the diff and the sync at scale, against the fakes (limits on) in a child process.

Run against a warehouse whose marts are built (``okendo-pipeline run`` on a generated landing
folder, e.g. the one ``bench_ingest.py`` makes). It adds the ``sync`` schema to that file.

1. first sync: the diff (median of ``--runs`` dry-run plans), then one real first sync per
   destination (profiles backfill, events since the backfill start) with rows and requests;
2. a nightly run where ``--changed`` of the customers changed: the change is applied to the
   marts directly (one review more, a new rating, one new event each), since the dbt rebuild is
   measured by ``bench_dbt.py``; diff median, then the real send;
3. the nightly run with no change, end to end (recover, plan, send nothing, fold), median.

A reference measured in the same run: one full scan of the profile mart (hash of every row).

    python benchmarks/bench_sync.py --database /tmp/okendo-bench/bench.duckdb --runs 3
"""

import argparse
import statistics
import sys
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT)]  # bench_destinations, fakes

from bench_destinations import Fakes

from okendo_fakes.__main__ import DEMO_BRAZE_KEY, DEMO_ITERABLE_KEY
from okendo_pipeline.defs.braze.resources import BrazeResource
from okendo_pipeline.defs.iterable.resources import IterableResource
from okendo_pipeline.defs.sync.resource import DestinationResource
from okendo_pipeline.lib import incremental, warehouse
from okendo_pipeline.lib.sync.report import SyncReport
from okendo_pipeline.lib.sync.run import begin_run, deliver
from okendo_pipeline.lib.sync.settings import SyncSettings


def resource(dest: str, url: str = "") -> DestinationResource:
    """The destination's resource, as the sync job uses it, pointed at the fake."""
    if dest == "iterable":
        return IterableResource(api_key=DEMO_ITERABLE_KEY, base_url=url)
    return BrazeResource(api_key=DEMO_BRAZE_KEY, rest_endpoint=url)


def sync_once(db: str, dest: str, url: str, backfill: str, as_of: date) -> SyncReport:
    """What the sync job's two ops do, in one call."""
    res = resource(dest, url)
    settings = SyncSettings(as_of=as_of, events_backfill_start=backfill)
    with warehouse.connect(db) as conn, res.sender() as sender:
        report = begin_run(conn, res.codec(), str(uuid.uuid4()), settings)
        return deliver(conn, res.codec(), sender, report)


def diff_median(db: str, dest: str, backfill: str, as_of: date, runs: int) -> tuple[float, dict]:
    """Plan only (a dry run's plan: the same SQL, no acknowledged state touched)."""
    times, plan = [], {}
    for _ in range(runs):
        with warehouse.connect(db) as conn:
            settings = SyncSettings(as_of=as_of, events_backfill_start=backfill, dry_run=True)
            report = begin_run(conn, resource(dest).codec(), str(uuid.uuid4()), settings)
            conn.execute(
                "update sync.runs set status = 'dry_run', folded = true where run_id = ?",
                [report.run_id],
            )
        times.append(report.diff_seconds)
        plan = report.plan.__dict__
    return statistics.median(times), plan


def reference_scan(db: str, runs: int) -> float:
    times = []
    with warehouse.connect(db) as conn:
        for _ in range(runs):
            t = time.perf_counter()
            conn.execute("select count(*), sum(hash(columns(*))) from marts.customer_profiles")
            conn.fetchall()
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def change_marts(db: str, share: float) -> tuple[int, int]:
    """Change ``share`` of the customers in the marts: a review more, and its event."""
    modulo = round(1 / share)
    with warehouse.connect(db) as conn:
        changed = conn.execute(
            f"""
            update marts.customer_profiles set
                okendo_number_of_reviews = okendo_number_of_reviews + 1,
                okendo_latest_review_rating = 5
            where hash(customer_key, 'bench') % {modulo} = 0
            """
        ).fetchone()[0]
        added = conn.execute(
            f"""
            insert into marts.customer_events
            select 'bench-' || md5(customer_key || now()::varchar), 'Okendo Review Created',
                customer_key, email, shopify_customer_id, now()::timestamp,
                '{{"review_id": "bench", "rating": 5}}'::json
            from marts.customer_profiles where hash(customer_key, 'bench') % {modulo} = 0
            """
        ).fetchone()[0]
        # As the nightly full build would: the next plans compare every customer.
        incremental.record_marts_changed(conn, f"bench: {share:.0%} of the customers changed")
    return changed, added


def line(label: str, report: SyncReport) -> str:
    p = report.plan
    return (
        f"  {label:<10} diff {report.diff_seconds:6.2f}s  total {report.duration_seconds:7.1f}s  "
        f"profiles {p.profiles_created + p.profiles_updated:>9,} ({p.fields:,} fields, "
        f"{report.profiles_accepted:,} accepted)  events {p.events:>8,} "
        f"({report.events_accepted:,} accepted, {p.events_skipped:,} skipped)  "
        f"requests {report.requests:,}  possible duplicates {report.possible_duplicates}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--as-of", default="2026-11-01")
    parser.add_argument("--backfill", default="30d")
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--destinations", default="braze,iterable")
    args = parser.parse_args()
    db, as_of = args.database, date.fromisoformat(args.as_of)
    dests = args.destinations.split(",")
    with warehouse.connect(db) as conn:
        conn.execute("drop schema if exists sync cascade")
        customers = conn.execute("select count(*) from marts.customer_profiles").fetchone()[0]
        events = conn.execute("select count(*) from marts.customer_events").fetchone()[0]
    print(f"# {customers:,} profiles, {events:,} events; medians of {args.runs}; fakes limits on")
    ref = reference_scan(db, args.runs)
    print(f"reference: full scan of the profile mart {ref:.2f}s")

    fakes = Fakes(limits=True)
    try:
        urls = {"iterable": fakes.iterable, "braze": fakes.braze}
        print("1. first sync")
        for dest in dests:
            median, plan = diff_median(db, dest, args.backfill, as_of, args.runs)
            print(f"  {dest:<10} diff median {median:.2f}s ({median / ref:.1f}x the scan): {plan}")
            print(line(dest, sync_once(db, dest, urls[dest], args.backfill, as_of)), flush=True)

        changed, added = change_marts(db, args.changed)
        print(f"2. nightly, {changed:,} customers changed ({args.changed:.0%}), {added:,} events")
        for dest in dests:
            median, plan = diff_median(db, dest, args.backfill, as_of, args.runs)
            print(f"  {dest:<10} diff median {median:.2f}s ({median / ref:.1f}x the scan): {plan}")
            print(line(dest, sync_once(db, dest, urls[dest], args.backfill, as_of)), flush=True)

        print("3. nightly, nothing changed, end to end")
        for dest in dests:
            reports = [
                sync_once(db, dest, urls[dest], args.backfill, as_of) for _ in range(args.runs)
            ]
            total = statistics.median(r.duration_seconds for r in reports)
            print(f"  {dest:<10} median {total:.2f}s end to end, requests "
                  f"{sum(r.requests for r in reports)}")  # fmt: skip
    finally:
        fakes.close()


if __name__ == "__main__":
    main()
