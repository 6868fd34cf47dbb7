"""Benchmark: ``okendo-pipeline serve-webhooks`` (its own process, default settings) while
``--idle`` connections that never send a byte are opened from ``--threads`` threads.

Signed deliveries go in one at a time, every ``--every`` seconds, on fresh connections, from
before the flood until it has been opened; each one's time to its 200 is recorded. Prints how
many idle connections were established and how fast, the deliveries' p50, p95 and worst, the
receiver's peak thread count, and how long the idle connections stayed open (the deadline).
Reference in the same run: the same deliveries with no flood.

    python benchmarks/bench_slow_connections.py --idle 5000
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_webhooks, beside this file

from bench_webhooks import SECRET, free_port, wait_ready

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from okendo_pipeline.lib.okendo.sources.signatures import secret_key, sign


def delivery(n: int) -> tuple[bytes, dict[str, str]]:
    body = (
        b'{"resourceType":"review","topic":"create","sequenceNumber":"1","version":'
        b'"2025-02-01","resource":{"reviewId":"slow-%d"}}' % n
    )
    ts, msg_id = int(time.time()), f"msg_slow_{n}"
    return body, {
        "svix-id": msg_id,
        "svix-timestamp": str(ts),
        "svix-signature": sign(secret_key(SECRET), msg_id, ts, body),
        "Content-Type": "application/json",
    }


def deliver(url: str, n: int) -> float:
    body, headers = delivery(n)
    began = time.monotonic()
    response = requests.post(f"{url}/webhooks/okendo", data=body, headers=headers, timeout=30)
    seconds = time.monotonic() - began
    assert response.status_code == 200, response.text
    return seconds


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=5)
    parser.add_argument("--every", type=float, default=0.1)
    args = parser.parse_args()
    port = free_port()
    landing = Path(tempfile.mkdtemp(prefix="okendo-slow-bench-"))
    receiver = subprocess.Popen(
        [sys.executable, "-m", "okendo_pipeline.cli", "serve-webhooks", "--landing",
         str(landing), "--port", str(port)],
        env={"OKENDO_WEBHOOK_SECRET": SECRET, "PATH": "", "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_ready(url)
    try:
        reference = [deliver(url, n) for n in range(50)]
        flood: list[socket.socket] = []
        failed = [0]
        lock = threading.Lock()

        def open_idle(count: int) -> None:
            for _ in range(count):
                try:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                except OSError:
                    with lock:
                        failed[0] += 1
                    continue
                with lock:
                    flood.append(sock)

        share = args.idle // args.threads
        openers = [threading.Thread(target=open_idle, args=(share,)) for _ in range(args.threads)]
        began = time.monotonic()
        for t in openers:
            t.start()
        latencies, peak, n = [], 0, 1000
        while any(t.is_alive() for t in openers) or len(latencies) < 20:
            latencies.append(deliver(url, n))
            peak = max(peak, threads_of(receiver.pid))
            n += 1
            time.sleep(args.every)
        opened = time.monotonic() - began
        # How long the idle ones stay open: wait for the server to close a sample of them.
        sample = flood[-20:]
        closed_after = []
        for sock in sample:
            sock.settimeout(120)
            try:
                while sock.recv(1024):
                    pass
            except OSError:
                pass
            closed_after.append(time.monotonic() - began)
        for sock in flood:
            sock.close()
    finally:
        receiver.terminate()
        receiver.wait(60)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(f"{args.idle:,} idle connections attempted from {args.threads} threads:")
    print(f"  established {len(flood):,}, failed {failed[0]:,}, in {opened:.1f} s")
    print(f"  receiver threads, peak       {peak:,}")
    p50 = statistics.median(latencies)
    print(f"  deliveries during the flood  {len(latencies)}: p50 {p50:.3f} s, "
          f"p95 {p95:.3f} s, max {max(latencies):.3f} s")  # fmt: skip
    print(f"  reference, no flood          p50 {statistics.median(reference):.3f} s, "
          f"max {max(reference):.3f} s")  # fmt: skip
    print(f"  idle connections closed by the server after at most {max(closed_after):.1f} s")


if __name__ == "__main__":
    main()
