"""Freshness: from the receiver's 200 to both destinations holding the event and the changed
profile, with ``dagster-daemon run -w workspace.yaml`` (embedded storage: a DAGSTER_HOME with no
dagster.yaml) and ``okendo-pipeline serve-webhooks``, both at their default settings, against the
strict fakes of Iterable and Braze (documented limits on) served from this process.

Set-up, once per work folder: generate ``--customers`` customers and sync them to the fakes with
one ``okendo-pipeline run`` (a first sync). Then the daemon and the receiver start; once their
first ticks have settled, ``--deliveries`` signed review webhooks for existing customers are sent
``--interval`` seconds apart, and each one's latency is the time from its 200 until Iterable has
its event and a changed profile, and Braze too. Prints p50, p95 and the worst.

    python benchmarks/bench_latency.py --customers 100000 --work /tmp/latency-100k
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the fakes live beside the package, outside the wheel

from okendo_fakes.braze import FakeBraze
from okendo_fakes.iterable import FakeIterable
from okendo_fakes.server import FakeServer
from okendo_pipeline.lib.okendo.contract.rules import ENVELOPE_VERSION
from okendo_pipeline.lib.okendo.generator.generate import generate
from okendo_pipeline.lib.okendo.sources.signatures import secret_key, sign

SECRET = "whsec_" + base64.b64encode(b"latency-benchmark-secret").decode()
RECEIVER_PORT = 8791


def environment(work: Path, iterable: str, braze: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OKENDO_", "ITERABLE_", "BRAZE_", "DAGSTER_"))
    }
    return env | {
        "PYTHONPATH": str(REPO),  # this checkout's code, in every process the benchmark starts
        "OKENDO_LANDING_DIR": str(work / "landing"),
        "OKENDO_DUCKDB_PATH": str(work / "okendo.duckdb"),
        "OKENDO_ANALYTICS_PATH": str(work / "okendo_analytics.duckdb"),
        "OKENDO_WEBHOOK_SECRET": SECRET,
        "ITERABLE_API_KEY": "iterable-test-key",
        "ITERABLE_BASE_URL": iterable,
        "BRAZE_API_KEY": "braze-test-key",
        "BRAZE_REST_ENDPOINT": braze,
        "DAGSTER_HOME": str(work / "dagster_home"),
    }


def review(seq: int, email: str, review_id: str) -> bytes:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({
        "resourceType": "review",
        "topic": "create",
        "sequenceNumber": f"9{seq:011d}",
        "version": ENVELOPE_VERSION,
        "resource": {
            "reviewId": review_id, "productId": "shopify-1", "productName": "Serum", "rating": 5,
            "sentiment": "positive", "status": "approved", "dateCreated": now,
            "reviewer": {"email": email},
        },
    }).encode()  # fmt: skip


def deliver(body: bytes) -> float:
    """POST a signed delivery; the moment its 200 came back."""
    msg_id = f"msg_{uuid.uuid4().hex}"
    stamp = int(time.time())
    request = urllib.request.Request(
        f"http://127.0.0.1:{RECEIVER_PORT}/webhooks/okendo",
        data=body,
        headers={
            "content-type": "application/json",
            "svix-id": msg_id,
            "svix-timestamp": str(stamp),
            "svix-signature": sign(secret_key(SECRET), msg_id, stamp, body),
        },
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        assert response.status == 200, response.status
    return time.monotonic()


def settled(home: Path) -> bool:
    """The daemon launched its first micro-batch (the landing sensor's first tick) and no run
    is in flight."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(limit=200)
    daemon = {r.job_name for r in runs if "dagster/sensor_name" in r.tags}
    return "okendo_micro_batch" in daemon and all(r.is_finished for r in runs)


def braze_key(fake: FakeBraze, email: str, shopify_id: str | None) -> str | None:
    for candidate in (f"external_id:{email}", f"email:{email}", f"external_id:{shopify_id}"):
        if candidate in fake.profiles:
            return candidate
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--deliveries", type=int, default=20)
    parser.add_argument("--interval", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=300.0, help="per delivery")
    args = parser.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    iterable, braze = FakeIterable(), FakeBraze()
    with FakeServer(iterable) as si, FakeServer(braze) as sb:
        env = environment(work, si.url, sb.url)
        generated = work / f"generated-{args.customers}-{date.today()}"
        if not generated.is_dir():
            began = time.monotonic()
            generate(work / "generating", args.customers, seed=7, as_of=date.today())
            (work / "generating").rename(generated)
            print(f"generated {args.customers:,} customers in {time.monotonic() - began:.0f}s")
        for stale in ("landing", "dagster_home"):
            shutil.rmtree(work / stale, ignore_errors=True)
        (work / "okendo.duckdb").unlink(missing_ok=True)
        (work / "dagster_home").mkdir()
        # The fakes start empty, so every run starts from a first sync of the same landing copy.
        subprocess.run(["cp", "-al", str(generated), str(work / "landing")], check=True)
        began = time.monotonic()
        subprocess.run(["okendo-pipeline", "run"], env=env, check=True, cwd=work)
        print(f"first sync in {time.monotonic() - began:.0f}s", flush=True)

        with duckdb.connect(str(work / "okendo.duckdb"), read_only=True) as conn:
            people = conn.execute(
                "select email, shopify_customer_id from marts.customer_profiles "
                f"where email is not null using sample {int(args.deliveries)} rows (reservoir, 11)"
            ).fetchall()
        logs = {n: (work / f"{n}.log").open("w") for n in ("daemon", "receiver")}
        daemon = subprocess.Popen(
            [sys.executable, "-m", "dagster._daemon", "run", "-w", str(REPO / "workspace.yaml")],
            env=env, cwd=REPO, stdout=logs["daemon"], stderr=subprocess.STDOUT,
        )  # fmt: skip
        receiver = subprocess.Popen(
            ["okendo-pipeline", "serve-webhooks", "--port", str(RECEIVER_PORT)],
            env=env, cwd=work, stdout=logs["receiver"], stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 600
            while not settled(work / "dagster_home"):
                assert daemon.poll() is None, (work / "daemon.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the daemon's first runs did not settle"
                time.sleep(2)
            time.sleep(15)  # the sync sensors' first ticks: they launch nothing new
            print("daemon settled; delivering", flush=True)
            latencies = run_deliveries(args, people, iterable, braze)
        finally:
            for process in (receiver, daemon):
                process.terminate()
                process.wait(60)
    report(args.customers, latencies)


def run_deliveries(args, people, iterable: FakeIterable, braze: FakeBraze) -> list[float]:
    pending: dict = {}
    latencies: list[float] = []
    run = uuid.uuid4().hex[:8]
    for n, (email, shopify_id) in enumerate(people):
        review_id = f"bench-{run}-{n}"
        before_i = dict(iterable.users.get(f"email:{email.lower()}", {}))
        key = braze_key(braze, email, shopify_id)
        before_b = dict(braze.profiles.get(key, {})) if key else {}
        acked = deliver(review(n, email, review_id))
        pending[review_id] = (acked, email, key, before_i, before_b, len(braze.events))
        time.sleep(args.interval)
        check(pending, iterable, braze, latencies)
    deadline = time.monotonic() + args.timeout
    while pending and time.monotonic() < deadline:
        check(pending, iterable, braze, latencies)
        time.sleep(0.2)
    if pending:
        print(f"{len(pending)} deliveries did not arrive within {args.timeout:.0f}s")
        latencies += [float("inf")] * len(pending)
    return latencies


def check(pending, iterable: FakeIterable, braze: FakeBraze, done: list[float]) -> None:
    """Move every delivery now complete at both destinations from ``pending`` to ``done``."""
    now = time.monotonic()
    for review_id, (acked, email, key, before_i, before_b, braze_seen) in list(pending.items()):
        at_iterable = f"review-created:{review_id}" in iterable.events and (
            iterable.users.get(f"email:{email.lower()}") != before_i
        )
        at_braze = any(review_id in json.dumps(e) for e in braze.events[braze_seen:]) and (
            key is None or braze.profiles.get(key) != before_b
        )
        if at_iterable and at_braze:
            done.append(now - acked)
            del pending[review_id]


def report(customers: int, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    print(f"{customers:,} customers, {len(ordered)} deliveries, 200 -> both destinations:")
    print(f"  p50 {statistics.median(ordered):6.1f} s")
    print(f"  p95 {p95:6.1f} s")
    print(f"  max {ordered[-1]:6.1f} s")


if __name__ == "__main__":
    main()
