"""The loopback HTTP server both destination fakes run on.

A fake is a ``FakeApp`` (routes, auth, state) served by ``FakeServer`` in a background thread.
Shared here: fault injection (5xx, 429, slow responses, dropped connections, and apply-then-fail:
the request is applied, then the connection drops, which is how a client sees a timeout after
the destination already did the work), the request log, rate limiters, and the control routes
under ``/_fake/`` (state, request log, faults, reset) for tests and the demo.
"""

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

FaultKind = Literal[
    "status",  # answer `status` without applying
    "rate_limit",  # the vendor's own 429 signal, without applying
    "slow",  # wait `seconds`, then handle normally
    "drop",  # close the connection without answering, without applying
    "apply_then_drop",  # apply, then close the connection without answering
    "apply_then_status",  # apply, then answer `status` (a gateway error after the work)
    "apply_then_slow",  # apply, then wait `seconds` before answering (the client times out)
    "queued",  # apply, then answer the vendor's "accepted for later" (Braze 202)
]


@dataclass
class Fault:
    """One injected misbehaviour. ``times`` None = until cleared; ``probability`` makes it
    random (seeded), e.g. 0.1 = every tenth request on average; ``path`` limits it to a route."""

    kind: FaultKind
    status: int = 500
    seconds: float = 0.0
    times: int | None = 1
    probability: float | None = None
    path: str | None = None


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RequestRecord:
    path: str
    status: int | None  # None = connection dropped
    bytes: int
    fault: str | None
    at: float


class LeakyBucket:
    """Iterable-style limiter: ``rate`` per second, up to ``capacity`` queued; 429 when full."""

    def __init__(self, rate: float, capacity: float | None = None) -> None:
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(rate, 1.0)
        self.level = 0.0
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def allow(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.level = max(0.0, self.level - (now - self.last) * self.rate)
            self.last = now
            if self.level + 1 > self.capacity:
                return False
            self.level += 1
            return True


class FixedWindow:
    """Braze-style limiter: ``limit`` requests per ``window`` seconds, windows aligned to the
    epoch; ``state()`` gives the X-RateLimit-* values (reset as epoch seconds)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.start = 0.0
        self.used = 0
        self.lock = threading.Lock()

    def take(self) -> tuple[bool, int, float]:
        """(allowed, remaining, reset epoch seconds)."""
        with self.lock:
            now = time.time()
            start = now - (now % self.window)
            if start != self.start:
                self.start, self.used = start, 0
            allowed = self.used < self.limit
            if allowed:
                self.used += 1
            return allowed, max(self.limit - self.used, 0), self.start + self.window


class FakeApp:
    """Base of a vendor fake: subclasses implement ``handle`` and ``state``."""

    name = "fake"

    def __init__(self, *, seed: int = 0, record_bodies: bool = False) -> None:
        self.lock = threading.RLock()
        self.faults: list[Fault] = []
        self.requests: list[RequestRecord] = []
        self.bodies: list[tuple[str, Any]] = []  # (path, parsed body) when record_bodies
        self.record_bodies = record_bodies
        self.rng = random.Random(seed)
        # Set when an apply_then_slow fault has applied a request and is holding its answer:
        # the moment a client that dies now leaves applied work unrecorded.
        self.stalled = threading.Event()

    # -- subclass hooks ------------------------------------------------------------------------

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Response:
        raise NotImplementedError

    def handle_get(self, path: str, query: str, headers: dict[str, str]) -> Response:
        return Response(404, {"message": f"no route GET {path}"})

    def rate_limited(self, path: str) -> Response:
        return Response(429, {"message": "rate limited"})

    def accepted_later(self, path: str) -> Response:
        return Response(202, {"message": "queued"})

    def state(self) -> dict[str, Any]:
        raise NotImplementedError

    def clear(self) -> None:
        """Forget stored data (the subclass clears its own)."""

    # -- faults --------------------------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path not in (None, path):
                    continue
                if fault.probability is not None and self.rng.random() >= fault.probability:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.requests.clear()
            self.bodies.clear()
            self.clear()

    def count_requests(self, path: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests if path is None or r.path == path)


def _make_handler(app: FakeApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, resp: Response) -> None:
            payload = b"" if resp.body is None else json.dumps(resp.body).encode()
            self.send_response(resp.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in resp.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def _drop(self) -> None:
            self.close_connection = True

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/_fake/state":
                with app.lock:
                    self._send(Response(200, app.state()))
            elif path == "/_fake/requests":
                with app.lock:
                    self._send(Response(200, [asdict(r) for r in app.requests]))
            else:
                self._serve_get(path)

        def _serve_get(self, path: str) -> None:
            query = self.path.split("?", 1)[1] if "?" in self.path else ""
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._with_faults(path, b"", lambda: app.handle_get(path, query, headers))

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if path == "/_fake/faults":
                app.inject(*(Fault(**f) for f in json.loads(body or b"[]")))
                self._send(Response(200, {"faults": len(app.faults)}))
                return
            if path == "/_fake/reset":
                app.reset()
                self._send(Response(200, {"reset": True}))
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._with_faults(path, body, lambda: app.handle(path, headers, body))

        def _with_faults(self, path: str, body: bytes, handle: Callable[[], Response]) -> None:
            """Run ``handle`` under the next matching fault; log and answer (or drop)."""
            fault = app.take_fault(path)
            if fault and fault.kind == "slow":
                time.sleep(fault.seconds)
            resp: Response | None
            if fault and fault.kind == "drop":
                resp = None
            elif fault and fault.kind == "status":
                resp = Response(fault.status, {"message": "injected server error"})
            elif fault and fault.kind == "rate_limit":
                resp = app.rate_limited(path)
            else:
                resp = handle()
                if fault and resp.status < 300:
                    if fault.kind == "apply_then_drop":
                        resp = None
                    elif fault.kind == "apply_then_status":
                        resp = Response(fault.status, {"message": "injected error after apply"})
                    elif fault.kind == "queued":
                        resp = app.accepted_later(path)
                    elif fault.kind == "apply_then_slow":
                        app.stalled.set()
                        time.sleep(fault.seconds)
            status = resp.status if resp else None
            with app.lock:
                kind = fault.kind if fault else None
                app.requests.append(RequestRecord(path, status, len(body), kind, time.time()))
                if app.record_bodies and body and status is not None and status < 300:
                    app.bodies.append((path, json.loads(body)))
            if resp is None:
                self._drop()
            else:
                self._send(resp)

    return Handler


class FakeServer:
    """Serves a ``FakeApp`` on a loopback port in a daemon thread; a context manager."""

    def __init__(self, app: FakeApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.httpd = ThreadingHTTPServer((host, port), _make_handler(app))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name=f"fake-{app.name}", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def json_body(body: bytes) -> tuple[Any, str | None]:
    """(parsed, error message)."""
    try:
        return json.loads(body), None
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"body is not JSON: {exc}"
