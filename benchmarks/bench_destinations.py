"""Benchmark: profiles and requests per second from our clients into the loopback fakes.

The fakes run in their own process (``python -m okendo_fakes``), so the server's CPU
is not charged to the client. Figures are medians over ``--runs``:

* limits on: the fakes enforce the documented limits (Iterable bulkUpdate 5 req/s, Braze 3,000
  requests / 3 s) and the client paces itself at its default 90 %; the ratio is to the limit;
* limits off: how fast the client can go, and the client's CPU seconds per 10,000 profiles;
* a cProfile of one unlimited Braze run shows where the client's CPU goes.

    python benchmarks/bench_destinations.py --runs 3
"""

import argparse
import cProfile
import os
import pstats
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the fakes live beside the package, outside the wheel

from okendo_fakes.__main__ import DEMO_BRAZE_KEY, DEMO_ITERABLE_KEY
from okendo_pipeline.defs.braze.client import BrazeClient, BrazeSettings
from okendo_pipeline.defs.iterable import payloads as iterable_payloads
from okendo_pipeline.defs.iterable.client import IterableClient, IterableSettings
from okendo_pipeline.lib.catalogue import PROFILE_FIELDS
from okendo_pipeline.lib.destinations import Item


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Fakes:
    """Both fakes in a child process."""

    def __init__(self, limits: bool) -> None:
        self.iterable_port, self.braze_port = free_port(), free_port()
        args = [
            sys.executable, "-m", "okendo_fakes",
            "--iterable-port", str(self.iterable_port), "--braze-port", str(self.braze_port),
        ] + ([] if limits else ["--no-limits"])  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        for _ in range(3):
            self.proc.stdout.readline()  # type: ignore[union-attr]
        self.iterable = f"http://127.0.0.1:{self.iterable_port}"
        self.braze = f"http://127.0.0.1:{self.braze_port}"

    def reset(self) -> None:
        for url in (self.iterable, self.braze):
            requests.post(f"{url}/_fake/reset", timeout=10)

    def stored(self) -> tuple[int, int]:
        i = requests.get(f"{self.iterable}/_fake/state", timeout=60).json()
        b = requests.get(f"{self.braze}/_fake/state", timeout=60).json()
        return len(i["users"]), len(b["profiles"])

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def mart_rows(n: int, seed: int = 7) -> list[dict]:
    """Profile rows shaped like marts.customer_profiles, all 22 properties set (a backfill)."""
    rng = random.Random(seed)
    base = date(2025, 1, 1)
    rows = []
    for i in range(n):
        row: dict = {"email": f"customer{i}@example.com"}
        for f in PROFILE_FIELDS:
            if f.kind == "date":
                row[f.column] = base + timedelta(days=rng.randint(0, 500))
            elif f.kind == "integer":
                row[f.column] = rng.randint(0, 5000)
            elif f.kind == "number":
                row[f.column] = round(rng.uniform(0, 500), 2)
            else:
                row[f.column] = f"value {rng.randint(0, 99999)}"
        rows.append(row)
    return rows


def iterable_items(rows: list[dict]):
    for row in rows:
        changed = {k: v for k, v in row.items() if k != "email"}
        yield Item(
            row["email"], row["email"], iterable_payloads.user("email", row["email"], changed)
        )


def braze_items(rows: list[dict]):
    """Attribute objects as Braze takes them (the sync renders these in SQL; here the client
    alone is measured): dates as ISO 8601 midnight UTC."""
    for row in rows:
        obj = {"external_id": row["email"]}
        for k, v in row.items():
            if k != "email":
                obj[k] = f"{v.isoformat()}T00:00:00Z" if isinstance(v, date) else v
        yield Item(row["email"], row["email"], obj)


def push(kind: str, url: str, rows: list[dict], *, paced: bool, concurrency: int = 4) -> dict:
    """Send every row; returns wall time, client CPU time, requests, accepted."""
    fraction = 0.9 if paced else None
    started, cpu = time.perf_counter(), time.process_time()
    requests_sent = accepted = 0
    if kind == "iterable":
        with IterableClient(
            DEMO_ITERABLE_KEY, IterableSettings(base_url=url, rate_fraction=fraction)
        ) as c:
            results = c.update_users(iterable_items(rows))
            for _, r in results:
                requests_sent += r.requests
                accepted += r.count("accepted")
    else:
        with BrazeClient(
            DEMO_BRAZE_KEY,
            BrazeSettings(rest_endpoint=url, rate_fraction=fraction, concurrency=concurrency),
        ) as c:
            for _, r in c.track_attributes(braze_items(rows)):
                requests_sent += r.requests
                accepted += r.count("accepted")
    wall = time.perf_counter() - started
    return {"wall": wall, "cpu": time.process_time() - cpu, "requests": requests_sent,
            "accepted": accepted}  # fmt: skip


def median_of(runs: int, fn: Callable[[], dict]) -> dict:
    results = [fn() for _ in range(runs)]
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def report(label: str, n: int, r: dict, limit_rps: float | None) -> None:
    rps = r["requests"] / r["wall"]
    line = (
        f"{label:<34} {n:>8,} profiles  {n / r['wall']:>9,.0f} profiles/s  {rps:>7,.1f} req/s"
        f"  client CPU {r['cpu'] / n * 10_000:>5.2f} s per 10k"
    )
    if limit_rps:
        line += f"  = {rps / limit_rps:.2f} x limit ({limit_rps:g} req/s)"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--iterable-profiles", type=int, default=20_000)
    parser.add_argument("--braze-profiles", type=int, default=150_000)
    parser.add_argument("--unlimited-profiles", type=int, default=150_000)
    args = parser.parse_args()
    print(f"# {os.cpu_count()} CPUs, medians of {args.runs} runs, fakes in a child process")

    rows = mart_rows(max(args.iterable_profiles, args.braze_profiles, args.unlimited_profiles))

    fakes = Fakes(limits=True)
    try:
        n = args.iterable_profiles

        def iterable_on() -> dict:
            fakes.reset()
            r = push("iterable", fakes.iterable, rows[:n], paced=True)
            assert fakes.stored()[0] == n == r["accepted"]
            return r

        report("Iterable bulkUpdate, limits on", n, median_of(args.runs, iterable_on), 5.0)
        n = args.braze_profiles

        def braze_on() -> dict:
            fakes.reset()
            r = push("braze", fakes.braze, rows[:n], paced=True)
            assert fakes.stored()[1] == n == r["accepted"]
            return r

        report("Braze /users/track, limits on", n, median_of(args.runs, braze_on), 1000.0)
    finally:
        fakes.close()

    fakes = Fakes(limits=False)
    try:
        n = args.unlimited_profiles
        for kind, url in (("iterable", fakes.iterable), ("braze", fakes.braze)):

            def off(kind: str = kind, url: str = url) -> dict:
                fakes.reset()
                return push(kind, url, rows[:n], paced=False)

            report(f"{kind.title()}, limits off", n, median_of(args.runs, off), None)

        fakes.reset()
        profile = cProfile.Profile()
        profile.enable()
        push("braze", fakes.braze, rows[: n // 3], paced=False, concurrency=1)
        profile.disable()
        print(
            f"\n# where the client's CPU goes (Braze, {n // 3:,} profiles, limits off, "
            "one thread, as cProfile sees only the calling thread)"
        )
        stats = pstats.Stats(profile)
        by_area: dict[str, float] = {}
        for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
            area = next(
                (a for a in ("okendo_pipeline", "json", "requests", "urllib3", "http", "socket",
                             "threading", "concurrent", "ssl", "email") if a in filename),
                "other",
            )  # fmt: skip
            by_area[area] = by_area.get(area, 0.0) + tottime
        total = sum(by_area.values())
        for area, seconds in sorted(by_area.items(), key=lambda kv: -kv[1]):
            print(f"  {area:<16} {seconds:6.2f} s  {seconds / total:5.1%}")
        print("# top functions by own time")
        stats.sort_stats("tottime").print_stats(8)
    finally:
        fakes.close()


if __name__ == "__main__":
    main()
