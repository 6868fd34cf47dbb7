"""Benchmark: signed deliveries per second into ``okendo-pipeline serve-webhooks``, nothing lost.

The receiver runs as its own process (as in production); senders are ``--processes`` processes
of ``--threads`` keep-alive connections each, posting pre-signed review envelopes for
``--seconds``. After each run the receiver is stopped (SIGTERM: it publishes its files) and every
acknowledged delivery is looked up in the landing folder. Reference, same run: ``GET /healthz``
requests per second through the same server and senders (the HTTP floor, no signature, no disk).

    python benchmarks/bench_webhooks.py --runs 3
"""

import argparse
import base64
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

SECRET = "whsec_" + base64.b64encode(b"bench-signing-secret-0123456").decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str) -> None:
    """Until the receiver answers its health check (30 s at most)."""
    for _ in range(300):
        try:
            requests.get(f"{url}/healthz", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)


def sender(url: str, worker: int, threads: int, seconds: float, health: bool, out) -> None:
    """One process: ``threads`` sessions; puts the acknowledged review ids on ``out``."""
    import threading

    from okendo_pipeline.lib.okendo.sources.signatures import secret_key, sign

    key = secret_key(SECRET)
    acked: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run(t: int) -> None:
        session = requests.Session()
        n = 0
        mine = []
        while time.monotonic() < deadline:
            n += 1
            if health:
                if session.get(f"{url}/healthz", timeout=15).status_code == 200:
                    mine.append("")
                continue
            review_id = f"b{worker}-{t}-{n}"
            body = json.dumps({
                "resourceType": "review", "topic": "create", "sequenceNumber": str(n),
                "version": "2025-02-01",
                "resource": {"reviewId": review_id, "rating": 5, "status": "approved",
                             "productId": "shopify-1", "productName": "P",
                             "dateCreated": "2026-11-01T10:00:00Z",
                             "reviewer": {"email": f"{review_id}@example.com"}},
            }).encode()  # fmt: skip
            ts = int(time.time())
            msg_id = f"msg_{review_id}"
            headers = {"svix-id": msg_id, "svix-timestamp": str(ts),
                       "svix-signature": sign(key, msg_id, ts, body)}  # fmt: skip
            resp = session.post(f"{url}/webhooks/okendo", data=body, headers=headers, timeout=15)
            if resp.status_code == 200:
                mine.append(review_id)
        with lock:
            acked.extend(mine)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put(acked)


def one_run(args: argparse.Namespace, health: bool) -> tuple[float, int, int]:
    """(per second, acknowledged, lost)."""
    landing = Path(tempfile.mkdtemp(prefix="okendo-wh-bench-"))
    port = free_port()
    env = {**os.environ, "OKENDO_WEBHOOK_SECRET": SECRET}
    receiver = subprocess.Popen(
        [sys.executable, "-m", "okendo_pipeline.cli", "serve-webhooks", "--landing",
         str(landing), "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_ready(url)
    out: mp.Queue = mp.Queue()
    procs = [
        mp.Process(target=sender, args=(url, w, args.threads, args.seconds, health, out))
        for w in range(args.processes)
    ]
    started = time.monotonic()
    for p in procs:
        p.start()
    acked = [rid for _ in procs for rid in out.get()]
    elapsed = time.monotonic() - started
    for p in procs:
        p.join()
    receiver.send_signal(signal.SIGTERM)
    receiver.wait(60)
    lost = 0
    if not health:
        on_disk = {
            json.loads(line)["resource"]["reviewId"]
            for path in (landing / "review").glob("*.jsonl")
            for line in path.read_text().splitlines()
        }
        lost = sum(1 for a in acked if a not in on_disk)
    shutil.rmtree(landing, ignore_errors=True)
    return len(acked) / elapsed, len(acked), lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    print(f"# {os.cpu_count()} CPUs; {args.processes} sender processes x {args.threads} "
          f"connections, {args.seconds:g}s per run, medians of {args.runs}")  # fmt: skip
    health = [one_run(args, health=True)[0] for _ in range(args.runs)]
    rates, total, lost = [], 0, 0
    for _ in range(args.runs):
        rate, acked, missing = one_run(args, health=False)
        rates.append(rate)
        total += acked
        lost += missing
    ref, rate = statistics.median(health), statistics.median(rates)
    print(f"reference GET /healthz: {ref:,.0f} requests/s")
    print(f"signed deliveries: {rate:,.0f}/s acknowledged (runs: "
          f"{', '.join(f'{r:,.0f}' for r in rates)}) = {rate / ref:.2f} x the reference; "
          f"{total:,} acknowledged, {lost} missing from the landing folder")  # fmt: skip


if __name__ == "__main__":
    main()
