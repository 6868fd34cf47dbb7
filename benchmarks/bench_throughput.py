"""Benchmark: a first sync's throughput through ``okendo-pipeline run``, against the fakes with
their documented limits on (in a child process sharing the machine's cores), and a plain push of
the same profiles measured in the same run as the reference.

Run against a warehouse whose marts are built (``okendo-pipeline run`` without destination keys
on a generated landing folder). Each run works on a fresh copy without the ``sync`` schema, so
every profile is new to both destinations (a first sync); events are left out
(``OKENDO_EVENTS_BACKFILL_START=none``) so the rates are the profiles'.

* Braze: profiles/s from the fake's own request log (first to last ``/users/track`` request that
  was answered 201), and its ratio to the reference: the same attribute objects, rendered by our
  payload builders beforehand, posted as 75-object bodies over one keep-alive connection, waiting
  out a 429 until the window's reset.
* Iterable: ``/api/users/bulkUpdate`` requests/s from the fake's log (its limit is 5/s), and its
  429s.

    python benchmarks/bench_throughput.py --database /tmp/w/base.duckdb --landing /tmp/w/landing
"""

import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT)]  # bench_destinations, fakes

from bench_destinations import Fakes

from okendo_fakes.__main__ import DEMO_BRAZE_KEY, DEMO_ITERABLE_KEY
from okendo_pipeline.defs.braze.resources import BrazeResource
from okendo_pipeline.lib import warehouse
from okendo_pipeline.lib.destinations import encode
from okendo_pipeline.lib.sync.outbox import profile_items

BRAZE_TRACK = "/users/track"
ITERABLE_BULK = "/api/users/bulkUpdate"


def fresh_copy(source: Path, folder: Path) -> Path:
    """The warehouse without sync state: every profile is a first sync."""
    target = folder / "bench.duckdb"
    shutil.copyfile(source, target)
    with warehouse.connect(str(target)) as conn:
        conn.execute("drop schema if exists sync cascade")
    return target


def run_pipeline(
    db: Path, landing: Path, as_of: str, fakes: Fakes, home: Path, destinations: list[str]
) -> float:
    """``okendo-pipeline run`` in a new process, ``destinations`` on; returns its wall time."""
    keys = {
        "braze": {"BRAZE_API_KEY": DEMO_BRAZE_KEY, "BRAZE_REST_ENDPOINT": fakes.braze},
        "iterable": {"ITERABLE_API_KEY": DEMO_ITERABLE_KEY, "ITERABLE_BASE_URL": fakes.iterable},
    }
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BRAZE_", "ITERABLE_"))},
        **{k: v for d in destinations for k, v in keys[d].items()},
        "DAGSTER_HOME": str(home),
        "OKENDO_EVENTS_BACKFILL_START": "none",
        "OKENDO_ANALYTICS_PATH": str(db.with_name("analytics.duckdb")),
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "okendo_pipeline.cli", "run", "--database", str(db),
         "--landing", str(landing), "--as-of", as_of],
        env=env, cwd=db.parent, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"okendo-pipeline run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def request_log(url: str, path: str) -> list[dict]:
    log = requests.get(f"{url}/_fake/requests", timeout=120).json()
    return [r for r in log if r["path"] == path]


def rate(records: list[dict], per_request: float = 1.0) -> float:
    """Requests (times ``per_request``) per second over the span of the answered ones: the
    intervals between the first and the last, so the first request's start is not counted."""
    answered = sorted(r["at"] for r in records if r["status"] and r["status"] < 300)
    if len(answered) < 2:
        return float("nan")
    return (len(answered) - 1) * per_request / (answered[-1] - answered[0])


def braze_bodies(db: Path) -> tuple[list[bytes], int]:
    """The attribute objects the run just sent, rendered again by our builders, as bodies."""
    res = BrazeResource(api_key=DEMO_BRAZE_KEY, rest_endpoint="http://unused")
    codec = res.codec()
    with warehouse.connect(str(db)) as conn:
        run_id = conn.execute(
            "select run_id from sync.runs where destination = 'braze' order by started_at desc"
        ).fetchone()[0]
        items = list(profile_items(conn, codec, run_id, {}))
    bodies = []
    for start in range(0, len(items), 75):
        chunk = items[start : start + 75]
        bodies.append(b'{"attributes":[' + b",".join(encode(i.payload) for i in chunk) + b"]}")
    return bodies, len(items)


def plain_push(url: str, bodies: list[bytes]) -> float:
    """Post the bodies over one keep-alive connection, as fast as the fake answers; a 429 waits
    for the window's reset and is sent again. Returns the wall time."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {DEMO_BRAZE_KEY}"}
    started = time.perf_counter()
    for body in bodies:
        while True:
            conn.request("POST", BRAZE_TRACK, body, headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 429:
                break
            time.sleep(max(0.0, float(resp.getheader("X-RateLimit-Reset")) - time.time()))
    conn.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, type=Path)
    parser.add_argument("--landing", required=True, type=Path)
    parser.add_argument("--as-of", default="2026-11-01")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument(
        "--destinations", default="braze,iterable", help="iterable alone at 1,000,000 takes 4 min"
    )
    args = parser.parse_args()
    destinations = args.destinations.split(",")

    figures: dict[str, list[float]] = {}
    fakes = Fakes(limits=True)
    try:
        for n in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
                folder = Path(tmp)
                db = fresh_copy(args.database, folder)
                fakes.reset()
                wall = run_pipeline(
                    db, args.landing, args.as_of, fakes, folder / "home", destinations
                )
                found: dict[str, float] = {}
                if "iterable" in destinations:
                    bulk_log = request_log(fakes.iterable, ITERABLE_BULK)
                    found["iterable"] = rate(bulk_log)
                    found["iterable_429"] = sum(1 for r in bulk_log if r["status"] == 429)
                if "braze" in destinations:
                    braze_log = request_log(fakes.braze, BRAZE_TRACK)
                    bodies, profiles = braze_bodies(db)
                    found["profiles"] = profiles
                    found["braze"] = rate(braze_log, profiles / len(bodies))
                    fakes.reset()
                    found["plain"] = profiles / plain_push(fakes.braze, bodies)
                    log = request_log(fakes.braze, BRAZE_TRACK)
                    assert sum(1 for r in log if r["status"] == 201) == len(bodies)
                    found["ratio"] = found["braze"] / found["plain"]
            print(f"run {n + 1}: run {wall:.1f}s; {summary(found)}", flush=True)
            for key, value in found.items():
                figures.setdefault(key, []).append(value)
    finally:
        fakes.close()
    med = {k: statistics.median(v) for k, v in figures.items()}
    print(f"median of {args.runs}: {summary(med)}")


def summary(f: dict[str, float]) -> str:
    parts = []
    if "braze" in f:
        parts.append(
            f"braze {f['profiles']:,.0f} profiles, {f['braze']:,.0f} profiles/s, plain push "
            f"{f['plain']:,.0f} profiles/s, ratio {f['ratio']:.2f}"
        )
    if "iterable" in f:
        parts.append(
            f"iterable {f['iterable']:.2f} bulk requests/s ({f['iterable'] / 5:.0%} of 5/s), "
            f"{f['iterable_429']:g} 429s"
        )
    return "; ".join(parts)


if __name__ == "__main__":
    main()
