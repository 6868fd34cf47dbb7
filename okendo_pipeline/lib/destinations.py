"""What every destination client shares: items, batches, per-row outcomes, the send loop.

A client turns rows into ``Item``s (our key, the identifier the vendor reports failures by, and
the vendor's JSON object), packs them into batches bounded by count and encoded size, sends each
batch through the HTTP layer and maps the vendor's reply back to one ``ItemOutcome`` per row:

* ``accepted``: the destination took it (and, for our fakes, stored it);
* ``rejected``: the destination refused it for a reason resending cannot fix (permanent);
* ``retry``: not delivered this time (throttled out, server down, unknown user): send again later.

No row is ever reported accepted unless the response said so.
"""

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import accumulate
from typing import Any, Literal

from okendo_pipeline.lib.http import AuthError, DestinationError, RetryPolicy, Timeouts

log = logging.getLogger(__name__)

Status = Literal["accepted", "rejected", "retry"]


@dataclass(frozen=True, kw_only=True)
class SendSettings:
    """What every client takes besides its own: body cap, pacing (a fraction of the documented
    limit; None = unpaced), threads, timeouts and the retry policy."""

    max_body_bytes: int = 4 * 1024 * 1024
    rate_fraction: float | None = 0.9
    concurrency: int = 1
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(slots=True)
class Item:
    """One row to send: ``key`` is ours (customer_key or event_id), ``identity`` the vendor's."""

    key: str
    identity: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Removal:
    """A person's removal at a destination (erasure), by the identity they were sent under;
    ``error`` None = acknowledged."""

    identity_kind: str
    identity: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class IdentityMerge:
    """A customer first sent by email who now has an id: the email-only profile merged into
    the one under ``identity`` (created from it when there is none); ``error`` None = done."""

    email: str
    identity: str
    error: str | None = None


def call_about_people(post: Callable[[], object]) -> str | None:
    """Make one request about people (a removal, a merge): None when it was answered 2xx, else
    why not, without the response body (it may quote an address being erased). A bad key
    stops the caller."""
    try:
        post()
    except AuthError:
        raise
    except DestinationError as exc:
        status = f" (HTTP {exc.status})" if exc.status else ""
        return f"{type(exc).__name__}{status}"
    return None


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    key: str
    status: Status
    reason: str | None = None


@dataclass
class Batch:
    """Items and their encoded JSON, ready to be joined into one request body; or, for rows
    rendered in SQL, ``joined``: their objects already joined by commas, with their keys and
    operations as one JSON array each and their ``count`` (no item, key or operation per row
    in Python: a million profiles cost the sending process no objects)."""

    items: list[Item] = field(default_factory=list)
    encoded: list[bytes] = field(default_factory=list)
    size: int = 0
    joined: bytes | None = None
    keys_json: str | None = None
    operations_json: str | None = None
    count: int = 0

    def __len__(self) -> int:
        return len(self.items) if self.joined is None else self.count

    def row_keys(self) -> list[str]:
        """Our key of every row, in the order the request carries them."""
        if self.keys_json is not None:
            return json.loads(self.keys_json)
        return [i.key for i in self.items]

    def keys_as_json(self) -> str:
        """The keys as one JSON array, as the journal stores them set-based."""
        if self.keys_json is not None:
            return self.keys_json
        return json.dumps([i.key for i in self.items])

    def body(self, opening: bytes, closing: bytes) -> bytes:
        """The request body: the objects between ``opening`` and ``closing``."""
        joined = self.joined if self.joined is not None else b",".join(self.encoded)
        return opening + joined + closing


@dataclass(frozen=True)
class BatchLimits:
    """What one request may carry: objects, bytes, and the bytes of the envelope around them."""

    max_count: int
    max_bytes: int
    overhead: int


Outcome = tuple[Status, str | None]


@dataclass
class BatchResult:
    """How one batch went, row by row, without an object per row: every row of ``batch`` has
    ``status`` and ``reason`` but the positions in ``exceptions``. A batch the destination
    took whole, the usual case, costs Python nothing per row; ``outcomes`` lists them all."""

    batch: Batch
    status: Status = "accepted"
    reason: str | None = None
    exceptions: dict[int, Outcome] = field(default_factory=dict)
    requests: int = 0
    possible_duplicates: int = 0
    elapsed: float = 0.0
    error: str | None = None
    filtered_out_fields: list[str] = field(default_factory=list)

    @classmethod
    def per_row(cls, batch: Batch, outcomes: list[ItemOutcome], **kwargs: Any) -> "BatchResult":
        """From one outcome per row, in the batch's order."""
        exceptions: dict[int, Outcome] = {
            n: (o.status, o.reason)
            for n, o in enumerate(outcomes)
            if o.status != "accepted" or o.reason
        }
        return cls(batch, exceptions=exceptions, **kwargs)

    @property
    def rows(self) -> int:
        return len(self.batch)

    @property
    def outcomes(self) -> list[ItemOutcome]:
        """Every row's outcome, in order."""
        usual = (self.status, self.reason)
        return [
            ItemOutcome(key, *self.exceptions.get(n, usual))
            for n, key in enumerate(self.batch.row_keys())
        ]

    def count(self, status: Status) -> int:
        if not self.exceptions:
            return self.rows if self.status == status else 0
        listed = sum(1 for s, _ in self.exceptions.values() if s == status)
        return listed + (self.rows - len(self.exceptions) if self.status == status else 0)

    def reasons(self, status: Status) -> Counter[str]:
        """How many rows of ``status`` gave each reason."""
        found = Counter(r for s, r in self.exceptions.values() if s == status and r)
        if self.status == status and self.reason and self.rows > len(self.exceptions):
            found[self.reason] += self.rows - len(self.exceptions)
        return found


def utc_moment(value: date | datetime | str) -> datetime:
    """A date, timestamp or ISO string as an aware UTC datetime (a date is midnight UTC; a
    naive timestamp is UTC, as the mart stores it)."""
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        value = (
            datetime.fromisoformat(text)
            if ("T" in text or " " in text)
            else date.fromisoformat(text)
        )
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def format_utc(value: date | datetime | str, date_suffix: str, fmt: str) -> str:
    """Format a moment in UTC with ``fmt``; a plain date (most profile values) takes the fast
    path ``<ISO date><date_suffix>``: strftime per value was the client's biggest CPU cost."""
    if type(value) is date:
        return value.isoformat() + date_suffix
    return utc_moment(value).strftime(fmt)


def encode(obj: Any) -> bytes:
    """Compact JSON, UTF-8 kept as is (smaller than \\u escapes; both vendors take UTF-8)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def batches(
    items: Iterable[Item],
    *,
    max_count: int,
    max_bytes: int,
    overhead: int,
    unique_identity: bool = False,
) -> Iterator[Batch]:
    """Pack items in order into batches of at most ``max_count`` items and ``max_bytes`` bytes.

    ``overhead`` is the size of the request envelope around the joined items. With
    ``unique_identity`` a batch never holds the same identity twice (Iterable reports failures by
    identifier, so two rows of one user in a batch could not be told apart): a repeat starts the
    next batch. An item that alone exceeds ``max_bytes`` is an error naming its key.
    """
    if max_count < 1:
        raise ValueError("max_count must be at least 1")
    batch = Batch()
    seen: set[str] = set()
    for item in items:
        blob = encode(item.payload)
        if overhead + len(blob) > max_bytes:
            raise ValueError(
                f"row {item.key!r} encodes to {len(blob):,} bytes, over the {max_bytes:,}-byte "
                "request limit on its own"
            )
        full = len(batch.items) >= max_count
        too_big = overhead + batch.size + len(blob) + 1 > max_bytes
        repeated = unique_identity and item.identity in seen
        if batch.items and (full or too_big or repeated):
            yield batch
            batch = Batch()
            seen = set()
        batch.items.append(item)
        batch.encoded.append(blob)
        batch.size += len(blob) + (1 if len(batch.items) > 1 else 0)
        if unique_identity:
            seen.add(item.identity)
    if batch.items:
        yield batch


def split_joined(
    keys: list[str],
    operations: list[str],
    sizes: list[int],
    joined: bytes,
    max_bytes: int,
    overhead: int,
) -> Iterator[Batch]:
    """Objects rendered and joined by commas in SQL (``sizes``: each one's bytes) that do not
    fit one request, as batches within ``max_bytes``. An object that alone exceeds
    ``max_bytes`` is an error naming its key."""
    starts = list(accumulate((size + 1 for size in sizes), initial=0))  # each object's offset

    def part(lo: int, hi: int) -> Batch:
        return Batch(
            joined=joined[starts[lo] : starts[hi] - 1],
            keys_json=json.dumps(keys[lo:hi]),
            operations_json=json.dumps(operations[lo:hi]),
            count=hi - lo,
        )

    first = 0
    for n, size in enumerate(sizes):
        if overhead + size > max_bytes:
            raise ValueError(
                f"row {keys[n]!r} encodes to {size:,} bytes, over the {max_bytes:,}-byte "
                "request limit on its own"
            )
        if n > first and overhead + starts[n] + size - starts[first] > max_bytes:
            yield part(first, n)
            first = n
    yield part(first, len(sizes))


def failed_batch(batch: Batch, error: DestinationError | str, requests: int = 0) -> BatchResult:
    """Every row of a batch that did not get through: send again later, with the reason."""
    reason = str(error)
    return BatchResult(batch, "retry", reason, requests=requests, error=reason)


def send_all(
    batch_iter: Iterable[Batch],
    send: Callable[[Batch], BatchResult],
    *,
    concurrency: int = 1,
) -> Iterator[tuple[Batch, BatchResult]]:
    """Send batches with at most ``concurrency`` in flight; yield each with its result.

    Results come back in completion order. One at a time (``concurrency`` 1), the iterator is
    pulled only when the previous batch is done, so a caller that records intent before it
    hands a batch over has at most that one batch out. With threads, as many batches again
    wait queued behind those in flight, so a thread that finishes starts the next at once
    instead of waiting for the caller to journal the last result. An ``AuthError`` stops
    everything at once: no other batch is sent.
    """
    if concurrency <= 1:
        for batch in batch_iter:
            yield batch, send(batch)
        return
    stop = threading.Event()

    def guarded(batch: Batch) -> BatchResult:
        if stop.is_set():
            return failed_batch(batch, "not sent: an earlier batch failed authentication")
        try:
            return send(batch)
        except AuthError:
            stop.set()
            raise

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="send") as pool:
        pending: dict[Future[BatchResult], Batch] = {}
        source = iter(batch_iter)
        exhausted = False
        while pending or not exhausted:
            while not exhausted and not stop.is_set() and len(pending) < 2 * concurrency:
                batch = next(source, None)
                if batch is None:
                    exhausted = True
                    break
                pending[pool.submit(guarded, batch)] = batch
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                batch = pending.pop(fut)
                yield batch, fut.result()
            if stop.is_set():
                exhausted = True
