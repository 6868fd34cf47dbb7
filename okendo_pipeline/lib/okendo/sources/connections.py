"""An HTTP server whose connections cannot pile up: a deadline for each request, a bound on how
many are open, a listen backlog that absorbs bursts.

The receiver gives each connection a thread (simple, and every delivery's answer waits for an
fsync anyway). Left alone, that lets idle or slow clients hold threads forever: the listen
backlog of 5 made bursts of new connections wait for SYN retries, and a connection that never
finished its headers kept its thread. Here:

* **deadline**: from the moment a connection waits for a request (when it opens, and after each
  answer on a keep-alive connection) it has ``deadline_seconds`` to deliver the headers and the
  whole body; a reaper shuts it down when that passes, however slowly it trickles bytes. Once a
  request is read, the deadline is lifted while it is answered (the fsync behind a 200);
* **bound**: at most ``max_connections`` are open; a new one beyond that takes the place of
  the one that has waited longest without sending a request (an idle connection is the
  cheapest to lose: a client that meant to send reconnects), and is refused only when every
  open connection is busy answering;
* **no thread for silence**: a new connection waits in a lobby (one selector thread) and gets
  its handler thread when its first bytes arrive, so a flood of connections that never speak
  costs file descriptors, not threads, and the accept loop stays fast for real deliveries;
* **backlog**: ``request_queue_size`` 4096 (the kernel caps it at ``somaxconn``).
"""

from __future__ import annotations

import contextlib
import select
import selectors
import socket
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEADLINE_SECONDS = 30.0
MAX_CONNECTIONS = 1024
REAP_INTERVAL_SECONDS = 0.5


class BoundedHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        deadline_seconds: float = DEADLINE_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.deadline_seconds = deadline_seconds
        self.max_connections = max_connections
        self.lock = threading.Lock()
        # Every open connection: its deadline while it waits for a request, None while busy;
        # in the order they started waiting, so the oldest waiting one is found at the front.
        self.open: OrderedDict[socket.socket, float | None] = OrderedDict()
        self.counts = {"deadline_passed": 0, "evicted": 0, "refused": 0}
        self._stopped = threading.Event()
        # New connections wait here, without a thread, until their first bytes arrive.
        self.lobby = selectors.DefaultSelector()
        super().__init__(address, handler)
        threading.Thread(target=self._reap, name="connection-reaper", daemon=True).start()
        threading.Thread(target=self._lobby, name="connection-lobby", daemon=True).start()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Admit the connection to the lobby (making room if the bound is reached)."""
        with self.lock:
            if len(self.open) >= self.max_connections and not self._evict_one():
                self.counts["refused"] += 1
                request.close()
                return
            self.open[request] = time.monotonic() + self.deadline_seconds
            self.lobby.register(request, selectors.EVENT_READ, client_address)

    def _lobby(self) -> None:
        """Give a connection its handler thread once it has something to read."""
        while not self._stopped.is_set():
            for key, _ in self.lobby.select(timeout=REAP_INTERVAL_SECONDS):
                sock = key.fileobj
                with self.lock:
                    with contextlib.suppress(KeyError, ValueError):
                        self.lobby.unregister(sock)
                    admitted = sock in self.open
                if admitted:
                    super().process_request(sock, key.data)
                else:  # evicted or past its deadline while it waited here
                    sock.close()  # type: ignore[union-attr]

    def _evict_one(self) -> bool:
        """Shut the connection that has waited longest for a request and has not sent a byte
        of one; False if there is none (all busy, or with a request on its way). A delivery
        whose bytes wait to be read is not idle, however long a flood kept it waiting."""
        for sock, deadline in self.open.items():
            if deadline is not None and not _has_bytes(sock):
                self._close(sock)
                self.counts["evicted"] += 1
                return True
        return False

    def _close(self, sock: socket.socket) -> None:
        """Under the lock: forget it and shut it down; a thread blocked reading it returns at
        once and closes it, one still in the lobby is closed here."""
        self.open.pop(sock, None)
        with contextlib.suppress(OSError):  # already gone
            sock.shutdown(socket.SHUT_RDWR)
        try:
            self.lobby.unregister(sock)
        except (KeyError, ValueError):
            return  # not in the lobby: its handler thread closes it
        sock.close()

    def waiting(self, sock: socket.socket) -> None:
        """The connection waits for a request: its deadline starts now."""
        with self.lock:
            if sock in self.open:
                self.open[sock] = time.monotonic() + self.deadline_seconds
                self.open.move_to_end(sock)

    def busy(self, sock: socket.socket) -> None:
        """A whole request has been read: no deadline while it is answered."""
        with self.lock:
            if sock in self.open:
                self.open[sock] = None

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            self.open.pop(request, None)
        super().shutdown_request(request)

    def _reap(self) -> None:
        while not self._stopped.wait(REAP_INTERVAL_SECONDS):
            now = time.monotonic()
            with self.lock:
                due = []
                for sock, deadline in self.open.items():
                    if deadline is None:
                        continue
                    if deadline >= now:
                        break  # the ones behind started waiting later
                    due.append(sock)
                for sock in due:
                    self._close(sock)
                    self.counts["deadline_passed"] += 1

    def server_close(self) -> None:
        self._stopped.set()
        super().server_close()
        with self.lock:
            for sock in list(self.open):
                self._close(sock)


def _has_bytes(sock: socket.socket) -> bool:
    """Whether ``sock`` has something to read (bytes, or the peer's close): a poll that never
    waits, whatever timeout the socket has (a peek would wait out that timeout)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class BoundedHandler(BaseHTTPRequestHandler):
    """Marks its connection waiting before each request and busy once the request is read
    (``request_read``); a read that outlives the deadline fails with the socket's timeout."""

    server: BoundedHTTPServer

    def setup(self) -> None:
        self.timeout = self.server.deadline_seconds  # no single read blocks past the deadline
        super().setup()

    def handle_one_request(self) -> None:
        self.server.waiting(self.connection)
        super().handle_one_request()

    def request_read(self) -> None:
        self.server.busy(self.connection)
