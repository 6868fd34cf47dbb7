"""The one HTTP layer every destination client uses.

What it guarantees, so the clients above it stay small:

* connect and read timeouts on every request;
* bounded retries on 429, 5xx, timeouts and dropped connections, with exponential backoff and
  jitter, honouring the vendor's own signal (``Retry-After``, Braze's ``X-RateLimit-Reset``);
* no retry on any other 4xx: those become typed errors at once (an auth failure never storms);
* a token-bucket pacer per endpoint, set below the documented limit, shared by every thread;
  or, where the vendor counts its window in every answer (Braze), a pacer that spends that
  count;
* a count of *ambiguous* retries: a request re-sent after a failure where the server may already
  have applied it (read timeout, dropped connection, 5xx). Braze has no event idempotency, so
  the sync engine reports these as possible duplicates;
* secrets (header values) are redacted from every message and never logged.

"Whether to retry" and "how long to wait" are separate pure functions so tests can pin them.
"""

import email.utils
import json
import logging
import random
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Typed errors


class DestinationError(Exception):
    """A request the destination did not accept. The message never carries a secret."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(DestinationError):
    """The API key is missing, wrong, or for another data center / cluster. Never retried."""


class BadRequestError(DestinationError):
    """A 4xx other than 429: the request itself is wrong, so sending it again cannot help."""


class PayloadTooLargeError(BadRequestError):
    """HTTP 413 (or the vendor's batch-too-large code): the batch limits are set too high."""


class RateLimitError(DestinationError):
    """Still throttled after the allowed waits; ``reset_at`` is the vendor's reset (epoch s)."""

    def __init__(self, message: str, *, status: int | None = 429, reset_at: float | None = None):
        super().__init__(message, status=status)
        self.reset_at = reset_at


class ServerError(DestinationError):
    """5xx after the allowed retries."""


class TransportError(DestinationError):
    """Timeouts or dropped connections after the allowed retries."""


# ---------------------------------------------------------------------------------------------
# Retry policy: pure decisions


RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries. 429s have their own budget: throttling is expected, errors are not."""

    max_attempts: int = 5
    max_rate_limited: int = 8
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_rate_limit_wait: float = 60.0

    def should_retry(self, status: int | None, attempt: int, rate_limited: int) -> bool:
        """Retry 429 (own budget), 5xx and transport errors (``status`` None); never other 4xx."""
        if status == 429:
            return rate_limited < self.max_rate_limited
        if status is None or status >= 500:
            return attempt < self.max_attempts
        return False

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, capped."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(attempt - 1, 0))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


def server_wait_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """The wait the server asked for: ``Retry-After`` (seconds or HTTP date), else
    ``X-RateLimit-Reset`` (epoch seconds, Braze). None when the response names none.

    Header lookup is case-insensitive (HTTP/2 sends them lower-case)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    retry_after = lowered.get("retry-after")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(retry_after)
            if parsed is not None:
                return max(0.0, parsed.timestamp() - now)
    reset = lowered.get("x-ratelimit-reset")
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


def reset_epoch(headers: Mapping[str, str]) -> float | None:
    """Braze's ``X-RateLimit-Reset`` as epoch seconds, if sent."""
    for k, v in headers.items():
        if k.lower() == "x-ratelimit-reset":
            try:
                return float(v)
            except ValueError:
                return None
    return None


# ---------------------------------------------------------------------------------------------
# Pacing


class TokenBucket:
    """Paces requests to ``rate`` per second, shared by every thread that sends to an endpoint.

    A caller reserves a slot under the lock (tokens may go negative = a queue of reservations)
    and sleeps outside it, so waiting threads never block each other's bookkeeping. ``pause``
    holds every caller until the vendor's reset time after a 429. ``rate=None`` = unpaced.
    """

    def __init__(
        self,
        rate: float | None,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._tokens = self.burst
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one slot; returns how long the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            wait = max(0.0, self._paused_until - now)
            if self.rate is not None:
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                self._tokens -= 1.0
                if self._tokens < 0:
                    wait = max(wait, -self._tokens / self.rate)
            return wait

    def acquire(self) -> float:
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (the vendor said when its window resets)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def observe(self, headers: Mapping[str, str]) -> None:
        """What the vendor said of its limit in an answer: a plain bucket needs nothing."""


class WindowPacer(TokenBucket):
    """Paces by the vendor's own count of a fixed window, as Braze sends it on every answer
    (``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` in epoch seconds): requests go at once
    while the window has room, and every caller waits for the reset once ``share`` of it is
    spent, less the ``in_flight`` requests not counted yet. A share below 1 leaves the rest of
    each window to the workspace's other senders, whose requests the count includes. Before the
    first answer, and when the headers are missing, nothing holds a request but a 429's pause.
    """

    def __init__(
        self,
        share: float | None,
        in_flight: int,
        *,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(None, clock=clock, sleep=sleep)
        self.share = 1.0 if share is None else share
        self.in_flight = in_flight
        self._wall = wall
        self._reset: float | None = None  # the known window's end, epoch seconds
        self._left = 0.0  # what this pipeline may still send in it

    def reserve(self) -> float:
        wait = super().reserve()
        with self._lock:
            now = self._wall()
            if self._reset is None or now >= self._reset:
                self._reset = None  # a new window: the next answer tells its count
                return wait
            if self._left < 1:
                return max(wait, self._reset - now)
            self._left -= 1
            return wait

    def observe(self, headers: Mapping[str, str]) -> None:
        window = _window(headers)
        if window is None:
            return
        limit, remaining, reset = window
        left = remaining - limit * (1 - self.share) - self.in_flight
        with self._lock:
            if self._reset is None or reset > self._reset:
                self._reset, self._left = reset, left
            elif reset == self._reset:
                self._left = min(self._left, left)


def _window(headers: Mapping[str, str]) -> tuple[float, float, float] | None:
    """(limit, remaining, reset epoch seconds) from ``X-RateLimit-*``, or None."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        return (
            float(lowered["x-ratelimit-limit"]),
            float(lowered["x-ratelimit-remaining"]),
            float(lowered["x-ratelimit-reset"]),
        )
    except (KeyError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# The client


@dataclass
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes
    attempts: int = 1
    ambiguous_retries: int = 0
    elapsed: float = 0.0

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 30.0


def _ambiguous(exc: HTTPError) -> bool:
    """True when the request may have reached the server (and been applied) before failing:
    anything but a failure to connect (a connect timeout, a refused connection)."""
    return not isinstance(exc, ConnectTimeoutError)  # NewConnectionError is one


def _pool(base_url: str, size: int) -> urllib3.PoolManager:
    """Connections to one host, kept alive, at most ``size`` (one per sending thread); through
    the proxy the environment names for it (``HTTPS_PROXY``, ``NO_PROXY``), read once."""
    url = urlsplit(base_url)
    bypass = urllib.request.proxy_bypass(url.hostname or "")
    proxy = None if bypass else urllib.request.getproxies().get(url.scheme)
    if proxy:
        return urllib3.ProxyManager(proxy, num_pools=1, maxsize=size)
    return urllib3.PoolManager(num_pools=1, maxsize=size)


def _short_message(body: bytes) -> str:
    """The vendor's own message (``msg``/``message``) or the start of the body."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(parsed, dict):
        parts = [str(parsed[k]) for k in ("code", "msg", "message") if parsed.get(k)]
        if parts:
            return ": ".join(parts)[:300]
    return json.dumps(parsed)[:300]


@dataclass
class HttpClient:
    """A pool of keep-alive connections to one destination host, with the guarantees above.
    urllib3 rather than requests: requests' per-call work (merging settings, cookies, a netrc
    lookup on disk) cost 0.75 ms of CPU a request, more than Braze's 1,000 requests a second
    leave; urllib3, on which requests is built, costs 0.27 ms.

    ``secret_headers`` are sent on every request and redacted from every message; they are kept
    out of ``repr`` so a traceback or log line cannot print them.
    """

    destination: str
    base_url: str
    secret_headers: Mapping[str, str] = field(repr=False)
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    auth_statuses: frozenset[int] = frozenset({401, 403})
    pool_size: int = 8
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._pool = _pool(self.base_url, self.pool_size)
        self._headers = {"Content-Type": "application/json", **self.secret_headers}
        self._timeout = urllib3.Timeout(connect=self.timeouts.connect, read=self.timeouts.read)
        self._secrets = [v for v in self.secret_headers.values() if v]

    def close(self) -> None:
        self._pool.clear()

    def __enter__(self) -> "HttpClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
            # A bearer token is also a suffix of its header value.
            if secret.startswith("Bearer "):
                text = text.replace(secret.removeprefix("Bearer "), "***")
        return text

    def post(self, path: str, body: bytes, *, pacer: TokenBucket | None = None) -> HttpResponse:
        """POST ``body`` (already-encoded JSON) to ``path``; returns any 2xx response.

        Raises a ``DestinationError`` subclass once the policy says stop.
        """
        return self.request("POST", path, body, pacer=pacer)

    def get(self, path: str, *, pacer: TokenBucket | None = None) -> HttpResponse:
        """GET ``path`` (with its query string), under the same policy."""
        return self.request("GET", path, None, pacer=pacer)

    def request(
        self, method: str, path: str, body: bytes | None, *, pacer: TokenBucket | None = None
    ) -> HttpResponse:
        url = self.base_url + path
        attempt = rate_limited = ambiguous = 0
        started = time.perf_counter()
        while True:
            attempt += 1
            if pacer is not None:
                pacer.acquire()
            try:
                resp = self._pool.request(
                    method,
                    url,
                    body=body,
                    headers=self._headers,
                    timeout=self._timeout,
                    retries=False,
                    redirect=False,
                )
            except HTTPError as exc:
                reason = self.redact(f"{type(exc).__name__}")
                if not self.retry.should_retry(None, attempt, rate_limited):
                    raise TransportError(
                        f"{self.destination} {method} {path}: {reason} after {attempt} attempts"
                    ) from None
                ambiguous += int(_ambiguous(exc))
                wait = self.retry.backoff(attempt, self.rng)
                log.warning(
                    "%s %s %s: %s; retry %d/%d in %.2fs",
                    self.destination, method, path, reason, attempt, self.retry.max_attempts, wait,
                )  # fmt: skip
                self.sleep(wait)
                continue

            status = resp.status
            if pacer is not None:
                pacer.observe(resp.headers)
            if 200 <= status < 300:
                return HttpResponse(
                    status=status,
                    headers=resp.headers,
                    body=resp.data,
                    attempts=attempt,
                    ambiguous_retries=ambiguous,
                    elapsed=time.perf_counter() - started,
                )
            message = self.redact(
                f"{self.destination} {method} {path}: HTTP {status} {_short_message(resp.data)}"
            )
            if status == 429:
                rate_limited += 1
                attempt -= 1  # a 429 uses its own budget
                if not self.retry.should_retry(429, attempt, rate_limited):
                    raise RateLimitError(
                        f"{message} (still rate limited after {rate_limited} waits)",
                        reset_at=reset_epoch(resp.headers),
                    )
                asked = server_wait_seconds(resp.headers, time.time())
                if asked is None:
                    wait = self.retry.backoff(rate_limited, self.rng)
                else:
                    # Land just after the reset, spread out so threads do not stampede.
                    wait = min(asked, self.retry.max_rate_limit_wait) + self.rng.uniform(0, 0.25)
                if pacer is not None:
                    pacer.pause(wait)
                else:
                    self.sleep(wait)
                log.info("%s; waiting %.2fs", message, wait)
                continue
            if status in self.auth_statuses:
                raise AuthError(f"{message} (check the API key and base URL)", status=status)
            if status == 413:
                raise PayloadTooLargeError(message, status=status)
            if status < 500:
                raise BadRequestError(message, status=status)
            if not self.retry.should_retry(status, attempt, rate_limited):
                raise ServerError(f"{message} after {attempt} attempts", status=status)
            ambiguous += 1
            wait = self.retry.backoff(attempt, self.rng)
            log.warning("%s; retry %d/%d in %.2fs", message, attempt, self.retry.max_attempts, wait)
            self.sleep(wait)
