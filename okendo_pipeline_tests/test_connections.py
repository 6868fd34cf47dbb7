"""The receiver under idle and slow connections: each gets a deadline, their number is bounded,
and signed deliveries keep getting their 200 at once while a flood of them is open."""

import socket
import statistics
import threading
import time

import requests

from okendo_pipeline.lib.okendo.sources.signatures import secret_key
from okendo_pipeline.lib.okendo.sources.webhooks import WebhookReceiver, make_server
from okendo_pipeline_tests.test_webhooks import SECRET, body_for, headers_for, post


def start(tmp_path, **bounds):
    rec = WebhookReceiver(tmp_path / "landing", secret_key(SECRET), rotate_seconds=0.2)
    server = make_server(rec, "127.0.0.1", 0, **bounds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return rec, server, f"http://127.0.0.1:{server.server_address[1]}"


def stop(rec, server) -> None:
    server.shutdown()
    server.server_close()
    rec.writer.close()


def closed_by_server(sock: socket.socket, within: float) -> float | None:
    """Seconds until the server closes ``sock`` (its read returns nothing), None if it did not."""
    began = time.monotonic()
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - began


def test_idle_and_slow_connections_are_closed_at_their_deadline(tmp_path) -> None:
    rec, server, url = start(tmp_path, deadline_seconds=2.0)
    port = server.server_address[1]
    try:
        idle = socket.create_connection(("127.0.0.1", port))
        slow = socket.create_connection(("127.0.0.1", port))
        began = time.monotonic()
        trickle = b"POST /webhooks/okendo HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100
        try:
            for byte in trickle:  # a byte every 0.25 s: busy, but never a whole request
                slow.sendall(bytes([byte]))
                time.sleep(0.25)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed it
        assert 1.5 < time.monotonic() - began < 4.0
        assert closed_by_server(idle, 5) is not None
        # A keep-alive connection that sent a request gets the deadline again once answered.
        with requests.Session() as session:
            body = body_for(1)
            headers = headers_for(body, "msg_keepalive")
            response = session.post(f"{url}/webhooks/okendo", data=body, headers=headers)
            assert response.status_code == 200
            time.sleep(3.5)
            assert not server.open  # the idle keep-alive connection was closed too
    finally:
        stop(rec, server)


def test_deliveries_are_answered_at_once_through_a_flood_of_idle_connections(tmp_path) -> None:
    rec, server, url = start(tmp_path, deadline_seconds=30.0, max_connections=200)
    port = server.server_address[1]
    flood: list[socket.socket] = []
    opened = threading.Event()

    def open_idle() -> None:
        for _ in range(600):
            flood.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        opened.set()

    try:
        threading.Thread(target=open_idle, daemon=True).start()
        latencies = []
        for n in range(30):
            body = body_for(100 + n)
            began = time.monotonic()
            response = post(url, body, headers_for(body, f"msg_flood_{n}"))
            latencies.append(time.monotonic() - began)
            assert response.status_code == 200, response.text
            time.sleep(0.05)
        assert opened.wait(60), "the idle connections were not all accepted by the kernel"
        assert len(flood) == 600
        assert max(latencies) < 1.0, latencies
        assert statistics.median(latencies) < 0.2
        assert len(server.open) <= 200  # bounded: the oldest idle ones made room
        assert server.counts["evicted"] >= 400
        assert threading.active_count() < 300
    finally:
        for sock in flood:
            sock.close()
        stop(rec, server)
