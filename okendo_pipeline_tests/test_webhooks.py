"""The webhook receiver over loopback HTTP: signatures, replays, malformed and large bodies,
concurrency, and a receiver killed mid-stream: every acknowledged delivery lands and loads."""

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import requests
from standardwebhooks.webhooks import Webhook

from okendo_pipeline.lib.okendo.loader import load_landing
from okendo_pipeline.lib.okendo.sources.signatures import secret_key, sign
from okendo_pipeline.lib.okendo.sources.webhooks import WebhookReceiver, make_server
from okendo_pipeline_tests.postgres import free_port
from okendo_pipeline_tests.samples import envelope

SECRET = "whsec_" + base64.b64encode(b"okendo-test-signing-secret!!").decode()


def body_for(n: int, **changes) -> bytes:
    env = envelope("review", n, reviewId=f"wh-{n:06d}", **changes)
    return json.dumps(env).encode()


def headers_for(body: bytes, msg_id: str, *, ts: int | None = None, prefix: str = "svix"):
    ts = int(time.time()) if ts is None else ts
    return {
        f"{prefix}-id": msg_id,
        f"{prefix}-timestamp": str(ts),
        f"{prefix}-signature": sign(secret_key(SECRET), msg_id, ts, body),
        "Content-Type": "application/json",
    }


@pytest.fixture
def receiver(tmp_path):
    landing = tmp_path / "landing"
    rec = WebhookReceiver(landing, secret_key(SECRET), rotate_seconds=0.2)
    server = make_server(rec, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    yield rec, url, landing
    server.shutdown()
    server.server_close()
    rec.writer.close()


def post(url: str, body: bytes, headers: dict) -> requests.Response:
    return requests.post(f"{url}/webhooks/okendo", data=body, headers=headers, timeout=15)


def landed_ids(landing: Path) -> list[str]:
    return [
        json.loads(line)["resource"]["reviewId"]
        for path in sorted((landing / "review").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_signed_deliveries_land_and_load(receiver, tmp_path):
    rec, url, landing = receiver
    assert requests.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
    for n in range(5):
        body = body_for(n)
        prefix = "svix" if n % 2 else "webhook"  # both header families
        resp = post(url, body, headers_for(body, f"msg_{n}", prefix=prefix))
        assert resp.status_code == 200 and resp.json()["status"] == "stored"
    # Signed by the Standard Webhooks reference implementation, not by our own code.
    body = body_for(99)
    ref = Webhook(SECRET)
    now = datetime.now(UTC)
    headers = {"webhook-id": "msg_ref", "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": ref.sign("msg_ref", now, body.decode())}  # fmt: skip
    assert post(url, body, headers).status_code == 200
    rec.writer.close()
    assert sorted(landed_ids(landing)) == [f"wh-{n:06d}" for n in (0, 1, 2, 3, 4, 99)]
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        report = load_landing(conn, landing)
        assert conn.execute("select count(*) from raw.rejected_records").fetchone()[0] == 0
        assert conn.execute("select count(*) from raw.current_resources").fetchone()[0] == 6
    assert report.envelopes_new == 6 and report.rejected == 0


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("unsigned", 401, "unsigned delivery"),
        ("wrong secret", 401, "signature does not match"),
        ("tampered body", 401, "signature does not match"),
        ("stale", 400, "stale or replayed"),
        ("from the future", 400, "stale or replayed"),
    ],
)
def test_bad_signatures_are_refused_and_nothing_lands(receiver, case, status, message):
    rec, url, landing = receiver
    body = body_for(1)
    headers = headers_for(body, "msg_x")
    if case == "unsigned":
        headers = {"Content-Type": "application/json"}
    elif case == "wrong secret":
        other = base64.b64encode(b"another-secret-altogether!!").decode()
        headers["svix-signature"] = sign(base64.b64decode(other), "msg_x", int(time.time()), body)
    elif case == "tampered body":
        body = body.replace(b"wh-000001", b"wh-666666")
    elif case == "stale":
        headers = headers_for(body, "msg_x", ts=int(time.time()) - 400)
    else:
        headers = headers_for(body, "msg_x", ts=int(time.time()) + 400)
    resp = post(url, body, headers)
    assert resp.status_code == status and message in resp.json()["error"]
    rec.writer.close()
    assert landed_ids(landing) == []


def test_replayed_delivery_is_acknowledged_once_stored(receiver):
    rec, url, landing = receiver
    body = body_for(7)
    first = post(url, body, headers_for(body, "msg_7"))
    again = post(url, body, headers_for(body, "msg_7"))
    assert first.json()["status"] == "stored" and again.json()["status"] == "duplicate"
    assert again.status_code == 200  # Svix stops retrying
    rec.writer.close()
    assert landed_ids(landing) == ["wh-000007"]


def test_malformed_bodies_get_400_and_are_kept_aside(receiver):
    _, url, landing = receiver
    cases = [b"{not json", b"[1, 2]", json.dumps({"resourceType": "pizza"}).encode()]
    for n, body in enumerate(cases):
        resp = post(url, body, headers_for(body, f"bad_{n}"))
        assert resp.status_code == 400
    kept = [
        json.loads(line)
        for path in (landing / ".webhooks" / "rejected").glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert [k["webhook_id"] for k in kept] == ["bad_0", "bad_1", "bad_2"]
    assert "not JSON" in kept[0]["reason"] and "pizza" in kept[2]["reason"]
    assert kept[0]["body"] == "{not json"


def test_concurrent_and_large_deliveries(receiver):
    rec, url, landing = receiver
    statuses: list[int] = []

    def sender(worker: int) -> None:
        session = requests.Session()
        for i in range(40):
            n = worker * 1000 + i
            body = body_for(n)
            resp = session.post(f"{url}/webhooks/okendo", data=body,
                                headers=headers_for(body, f"c_{n}"), timeout=15)  # fmt: skip
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    large = body_for(999_999, body="x" * (3 * 1024 * 1024))
    assert post(url, large, headers_for(large, "large")).status_code == 200
    too_large = body_for(999_998, body="x" * (6 * 1024 * 1024))
    assert post(url, too_large, headers_for(too_large, "too_large")).status_code == 413
    rec.writer.close()
    ids = landed_ids(landing)
    assert statuses == [200] * 480
    assert len(ids) == len(set(ids)) == 481 and "wh-999999" in ids


def test_killed_receiver_loses_no_acknowledged_delivery(tmp_path):
    landing = tmp_path / "landing"
    port = free_port()
    env = {**os.environ, "OKENDO_WEBHOOK_SECRET": SECRET, "OKENDO_WEBHOOK_ROTATE_SECONDS": "0.5"}
    cmd = [sys.executable, "-m", "okendo_pipeline.cli", "serve-webhooks",
           "--landing", str(landing), "--port", str(port)]  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return proc
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError("receiver did not start")

    proc = start()
    acked: list[str] = []
    stop = threading.Event()

    def sender(worker: int) -> None:
        session = requests.Session()
        n = worker * 100_000
        while not stop.is_set():
            n += 1
            body = body_for(n)
            try:
                resp = session.post(f"{url}/webhooks/okendo", data=body,
                                    headers=headers_for(body, f"k_{n}"), timeout=5)  # fmt: skip
            except requests.RequestException:
                return  # the receiver died under us: this one was never acknowledged
            if resp.status_code == 200:
                acked.append(f"wh-{n:06d}")

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(1, 7)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)  # no shutdown, no flush, no publish
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 100
    # A restart publishes what the dead process left (cut to whole lines), then we stop it.
    proc = start()
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=30)[0].decode()
    assert "files recovered from a previous run" in out
    ids = set(landed_ids(landing))
    missing = [a for a in acked if a not in ids]
    assert missing == []
    assert not list((landing / ".webhooks" / "incoming").glob("*.part"))
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        load_landing(conn, landing)
        assert conn.execute("select count(*) from raw.rejected_records").fetchone()[0] == 0
        loaded = conn.execute("select count(*) from raw.current_resources").fetchone()[0]
    assert loaded >= len(acked)
