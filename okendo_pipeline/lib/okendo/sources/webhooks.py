"""``okendo-pipeline serve-webhooks``: Okendo's signed webhook deliveries into the landing folder.

A delivery is answered 200 only once its envelope is on disk (written and fsynced); until then
Svix keeps retrying, so an answer lost in a crash costs a redelivery, which ingestion dedupes.

Files: each resource type has one open part file under ``<landing>/.webhooks/incoming/``
(hidden, so ingestion never reads it). Every ``rotate_seconds`` (or ``rotate_bytes``) a part file
is closed and published by an atomic rename to ``<landing>/<resource_type>/webhooks-*.jsonl``:
ingestion sees whole files or nothing. On start, part files left by a crash are cut back to
their last complete line (the rest was never acknowledged) and published.

Writes are group-committed: request threads queue their line and wait; one writer thread
appends everything queued, fsyncs each touched file once, and wakes the waiters. That is what
makes hundreds of deliveries per second possible with an fsync behind every answer.

Malformed bodies (not JSON, not an object, no known ``resourceType``) get 400 and are kept in
``<landing>/.webhooks/rejected/`` with the reason, for inspection.
"""

import json
import logging
import os
import queue
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from okendo_pipeline.lib.files import fsync_dir
from okendo_pipeline.lib.okendo.contract.models import RESOURCE_TYPES
from okendo_pipeline.lib.okendo.sources.connections import BoundedHandler, BoundedHTTPServer
from okendo_pipeline.lib.okendo.sources.signatures import SignatureError, verify

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/okendo"
MAX_BODY_BYTES = 5 * 1024 * 1024
ACK_TIMEOUT_SECONDS = 10.0  # well inside Okendo's 15 s
RECENT_IDS = 100_000
# A delivery waits at most this long in its part file before the file is published: the
# freshness target (30 s from the 200 to the destinations) leaves seconds for it, not a minute.
ROTATE_SECONDS = 5.0


@dataclass
class _PartFile:
    path: Path
    handle: Any
    opened: float
    size: int = 0


@dataclass
class _Pending:
    resource_type: str
    line: bytes
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class LandingWriter:
    """Durable, group-committed appends; rotation and atomic publication of landing files."""

    def __init__(
        self, landing: Path, *, rotate_seconds: float = ROTATE_SECONDS, rotate_bytes: int = 64 << 20
    ) -> None:
        self.landing = landing
        self.incoming = landing / ".webhooks" / "incoming"
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.rotate_seconds = rotate_seconds
        self.rotate_bytes = rotate_bytes
        self.files: dict[str, _PartFile] = {}
        self.queue: queue.Queue[_Pending] = queue.Queue()
        self.stopping = threading.Event()
        self.published = 0
        self.recovered = self.recover()
        self.thread = threading.Thread(target=self._run, name="landing-writer", daemon=True)
        self.thread.start()

    # -- crash recovery -------------------------------------------------------------------------

    def recover(self) -> int:
        """Publish part files a previous process left; cut a half-written last line."""
        count = 0
        for part in sorted(self.incoming.glob("*.jsonl.part")):
            data = part.read_bytes()
            keep = data[: data.rfind(b"\n") + 1]
            if len(keep) != len(data):
                log.warning(
                    "%s: dropping %d bytes of an unacknowledged line", part, len(data) - len(keep)
                )
                with part.open("r+b") as fh:
                    fh.truncate(len(keep))
                    fh.flush()
                    os.fsync(fh.fileno())
            resource_type = part.name.split(".", 1)[0]
            if keep:
                self._publish_path(part, resource_type)
                count += 1
            else:
                part.unlink()
        return count

    # -- the request side -----------------------------------------------------------------------

    def append(self, resource_type: str, line: bytes, timeout: float = ACK_TIMEOUT_SECONDS) -> None:
        """Return once ``line`` is on disk; raise if it could not be written in time."""
        if not self.thread.is_alive():
            raise RuntimeError("the landing writer is not running")
        pending = _Pending(resource_type, line)
        self.queue.put(pending)
        if not pending.done.wait(timeout):
            raise TimeoutError("the write was not on disk in time")
        if pending.error is not None:
            raise pending.error

    # -- the writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                first = self.queue.get(timeout=0.25)
            except queue.Empty:
                if self.stopping.is_set():
                    return
                self._rotate_due()
                continue
            batch = [first]
            while True:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            self._commit(batch)
            self._rotate_due()

    def _commit(self, batch: list[_Pending]) -> None:
        touched: set[str] = set()
        try:
            for item in batch:
                part = self._part(item.resource_type)
                part.handle.write(item.line)
                part.size += len(item.line)
                touched.add(item.resource_type)
            for rt in touched:
                handle = self.files[rt].handle
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException as exc:  # the disk failed: nobody is acknowledged
            log.error("landing write failed: %s", exc)
            for item in batch:
                item.error = exc
        for item in batch:
            item.done.set()

    def _part(self, resource_type: str) -> _PartFile:
        part = self.files.get(resource_type)
        if part is None:
            name = f"{resource_type}.{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
            path = self.incoming / f"{name}.jsonl.part"
            part = _PartFile(path, path.open("ab"), time.monotonic())
            fsync_dir(self.incoming)
            self.files[resource_type] = part
        return part

    def _rotate_due(self) -> None:
        now = time.monotonic()
        for rt, part in list(self.files.items()):
            if now - part.opened >= self.rotate_seconds or part.size >= self.rotate_bytes:
                self._publish(rt)

    def _publish(self, resource_type: str) -> None:
        part = self.files.pop(resource_type)
        part.handle.flush()
        os.fsync(part.handle.fileno())
        part.handle.close()
        if part.size:
            self._publish_path(part.path, resource_type)
        else:
            part.path.unlink()

    def _publish_path(self, part: Path, resource_type: str) -> None:
        target_dir = self.landing / resource_type
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / ("webhooks-" + part.name.split(".", 1)[1].removesuffix(".part"))
        os.replace(part, target)  # atomic: ingestion sees the whole file or none of it
        fsync_dir(target_dir)
        fsync_dir(part.parent)
        self.published += 1

    def close(self) -> None:
        """Finish queued writes, publish every open file."""
        self.stopping.set()
        self.thread.join(30)
        for rt in list(self.files):
            self._publish(rt)


class Rejects:
    """Malformed deliveries, kept for inspection with their reason."""

    def __init__(self, landing: Path) -> None:
        self.folder = landing / ".webhooks" / "rejected"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()

    def keep(self, reason: str, msg_id: str | None, body: bytes) -> None:
        record = {
            "received_at": datetime.now(UTC).isoformat(),
            "reason": reason,
            "webhook_id": msg_id,
            "body": body.decode("utf-8", "replace"),
        }
        path = self.folder / f"{datetime.now(UTC):%Y-%m-%d}.jsonl"
        with self.lock, path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


def envelope_line(body: bytes) -> tuple[str, bytes]:
    """(resource type, one compact JSON line) of a delivery body; ValueError says what is wrong."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise ValueError("body is not a JSON object")
    resource_type = parsed.get("resourceType")
    if resource_type not in RESOURCE_TYPES:
        raise ValueError(f"resourceType {resource_type!r} is not an Okendo resource type")
    line = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    return resource_type, line


class WebhookReceiver:
    """The receiver's state, shared by the request threads."""

    def __init__(self, landing: Path, key: bytes, **writer_options: Any) -> None:
        self.key = key
        self.writer = LandingWriter(landing, **writer_options)
        self.rejects = Rejects(landing)
        self.recent: OrderedDict[str, None] = OrderedDict()
        self.lock = threading.Lock()
        self.counts = {"stored": 0, "duplicate": 0, "rejected": 0}

    def seen(self, msg_id: str) -> bool:
        with self.lock:
            return msg_id in self.recent

    def remember(self, msg_id: str) -> None:
        with self.lock:
            self.recent[msg_id] = None
            if len(self.recent) > RECENT_IDS:
                self.recent.popitem(last=False)

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            msg_id = verify(self.key, headers, body, time.time())
        except SignatureError as exc:
            self.counts["rejected"] += 1
            log.warning("delivery refused (%d): %s", exc.status, exc)
            return exc.status, {"error": str(exc)}
        if self.seen(msg_id):
            self.counts["duplicate"] += 1
            return 200, {"status": "duplicate", "id": msg_id}
        try:
            resource_type, line = envelope_line(body)
        except ValueError as exc:
            self.counts["rejected"] += 1
            self.rejects.keep(str(exc), msg_id, body)
            log.warning("delivery %s malformed: %s", msg_id, exc)
            return 400, {"error": str(exc), "id": msg_id}
        try:
            self.writer.append(resource_type, line)
        except (OSError, TimeoutError, RuntimeError) as exc:
            log.error("delivery %s not stored: %s", msg_id, exc)
            return 503, {"error": "not stored, retry later", "id": msg_id}
        self.remember(msg_id)
        self.counts["stored"] += 1
        return 200, {"status": "stored", "id": msg_id}


def make_server(
    receiver: WebhookReceiver, host: str, port: int, **bounds: float
) -> BoundedHTTPServer:
    """The receiver's HTTP server; ``bounds``: ``deadline_seconds``, ``max_connections``
    (``connections.BoundedHTTPServer``)."""

    class Handler(BoundedHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self.request_read()
            if self.path.split("?", 1)[0] == "/healthz":
                alive = receiver.writer.thread.is_alive()
                self._answer(200 if alive else 503, {"status": "ok" if alive else "writer down"})
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != WEBHOOK_PATH:
                self._answer(404, {"error": f"deliveries go to POST {WEBHOOK_PATH}"})
                return
            length = int(self.headers.get("Content-Length") or -1)
            if length < 0:
                self._answer(411, {"error": "Content-Length required"})
                return
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                self._answer(413, {"error": f"body over {MAX_BODY_BYTES} bytes"})
                return
            body = self.rfile.read(length)
            if len(body) < length:  # the connection was closed (its deadline passed)
                self.close_connection = True
                return
            self.request_read()
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._answer(*receiver.handle(headers, body))

    return BoundedHTTPServer((host, port), Handler, **bounds)  # type: ignore[arg-type]


def serve(landing: Path, key: bytes, host: str, port: int, *, rotate_seconds: float) -> None:
    """Receive until SIGTERM or Ctrl-C; publish what is pending and say what was received."""
    import signal
    import threading

    landing.mkdir(parents=True, exist_ok=True)
    receiver = WebhookReceiver(landing, key, rotate_seconds=rotate_seconds)
    server = make_server(receiver, host, port)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    bound_host, bound_port = server.server_address[:2]
    print(
        f"receiving Okendo webhooks on http://{bound_host}:{bound_port}{WEBHOOK_PATH} into "
        f"{landing} ({receiver.writer.recovered} files recovered from a previous run)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        receiver.writer.close()
    print(f"stopped: {receiver.counts}; {receiver.writer.published} files published", flush=True)
