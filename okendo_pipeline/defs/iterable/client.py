"""Iterable bulk client: ``users/bulkUpdate`` for profiles, ``events/trackBulk`` for events.

Both answer HTTP 200 even when rows failed, naming the failed rows by identifier value, never by
position. So a profile batch holds each user once, and outcomes are mapped back by identity.
"""

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pydantic import ValidationError

from okendo_pipeline.defs.iterable.limits import (
    BULK_UPDATE_PATH,
    DEFAULT_BATCH_SIZE,
    FORGET_PATH,
    MAX_BODY_BYTES,
    MERGE_PATH,
    RATE_LIMITS,
    TRACK_BULK_PATH,
    US_BASE_URL,
)
from okendo_pipeline.defs.iterable.models import FAILURE_CLASSES, BulkResponse
from okendo_pipeline.defs.iterable.payloads import Identifier
from okendo_pipeline.lib.destinations import (
    Batch,
    BatchLimits,
    BatchResult,
    IdentityMerge,
    Item,
    ItemOutcome,
    Removal,
    SendSettings,
    batches,
    call_about_people,
    failed_batch,
    send_all,
)
from okendo_pipeline.lib.http import (
    AuthError,
    DestinationError,
    HttpClient,
    TokenBucket,
)

log = logging.getLogger(__name__)

_USERS_OPEN, _EVENTS_OPEN, _CLOSE = b'{"users":[', b'{"events":[', b"]}"


@dataclass(frozen=True, kw_only=True)
class IterableSettings(SendSettings):
    """Everything but the key. ``rate_fraction`` paces each endpoint below its documented limit."""

    base_url: str = US_BASE_URL
    identifier: Identifier = "email"
    batch_size: int = DEFAULT_BATCH_SIZE
    max_body_bytes: int = MAX_BODY_BYTES


def _identity(item: Item) -> tuple[str, str]:
    """How Iterable names this row in its failure lists: emails case-insensitively."""
    if "email" in item.payload:
        return "email", item.identity.lower()
    return "userId", item.identity


def outcomes_from_bulk(items: list[Item], response: BulkResponse) -> list[ItemOutcome]:
    """One outcome per item from a bulk 200 body: failures by identifier (emails and userIds
    apart, so one batch may mix both), event-name refusals by name; everything else accepted.
    When Iterable counts more failures than it names, the unnamed ones cannot be told apart, so
    every row not named is sent again (harmless: profile updates and id-keyed events are
    idempotent)."""
    failures: dict[tuple[str, str], tuple[str, str]] = {}
    lists = response.failedUpdates.model_dump()
    lists["invalidEmails"] = lists.get("invalidEmails", []) + response.invalidEmails
    lists["invalidUserIds"] = lists.get("invalidUserIds", []) + response.invalidUserIds
    for name, (status, reason) in FAILURE_CLASSES.items():
        for value in lists.get(name) or []:
            key = ("email", value.lower()) if name.endswith("Emails") else ("userId", value)
            failures.setdefault(key, (status, f"{reason} ({name})"))
    disallowed = set(response.disallowedEventNames)

    outcomes: list[ItemOutcome] = []
    failed = 0
    for item in items:
        hit = failures.get(_identity(item))
        if hit is None and item.payload.get("eventName") in disallowed:
            hit = ("rejected", "event name disallowed by the project (disallowedEventNames)")
        if hit is None:
            outcomes.append(ItemOutcome(item.key, "accepted"))
        else:
            failed += 1
            outcomes.append(ItemOutcome(item.key, hit[0], hit[1]))  # type: ignore[arg-type]
    if response.failCount > failed:
        reason = f"Iterable counted {response.failCount} failures but named {failed}"
        log.warning("%s; resending the unnamed rows", reason)
        outcomes = [
            o if o.status != "accepted" else ItemOutcome(o.key, "retry", reason) for o in outcomes
        ]
    return outcomes


class IterableClient:
    """Sends profiles and events to one Iterable project. Use as a context manager."""

    def __init__(self, api_key: str, settings: IterableSettings | None = None) -> None:
        if not api_key:
            raise AuthError("Iterable: no API key (set ITERABLE_API_KEY)")
        self.settings = s = settings or IterableSettings()
        self.http = HttpClient(
            destination="iterable",
            base_url=s.base_url,
            secret_headers={"Api-Key": api_key},
            timeouts=s.timeouts,
            retry=s.retry,
            pool_size=max(s.concurrency, 1),
        )
        self.pacers = {
            path: TokenBucket(limit * s.rate_fraction if s.rate_fraction else None)
            for path, limit in RATE_LIMITS.items()
        }

    def __enter__(self) -> "IterableClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    # -- batching ------------------------------------------------------------------------------

    @property
    def user_limits(self) -> BatchLimits:
        """What one ``users/bulkUpdate`` request may carry."""
        return BatchLimits(
            max_count=self.settings.batch_size,
            max_bytes=self.settings.max_body_bytes,
            overhead=len(_USERS_OPEN) + len(_CLOSE),
        )

    def user_batches(self, items: Iterable[Item]) -> Iterator[Batch]:
        limits = self.user_limits
        return batches(
            items,
            max_count=limits.max_count,
            max_bytes=limits.max_bytes,
            overhead=limits.overhead,
            unique_identity=True,
        )

    def event_batches(self, items: Iterable[Item]) -> Iterator[Batch]:
        return batches(
            items,
            max_count=self.settings.batch_size,
            max_bytes=self.settings.max_body_bytes,
            overhead=len(_EVENTS_OPEN) + len(_CLOSE),
        )

    # -- sending -------------------------------------------------------------------------------

    def _send(self, path: str, opening: bytes, batch: Batch) -> BatchResult:
        body = batch.body(opening, _CLOSE)
        try:
            resp = self.http.post(path, body, pacer=self.pacers[path])
        except AuthError:
            raise
        except DestinationError as exc:
            return failed_batch(batch, exc)
        try:
            parsed = BulkResponse.model_validate(resp.json() or {})
        except (ValidationError, ValueError) as exc:
            return failed_batch(batch, f"iterable {path}: unreadable 200 body ({exc})", 1)
        result = BatchResult.per_row(
            batch,
            outcomes_from_bulk(batch.items, parsed),
            requests=resp.attempts,
            # A resend after an ambiguous failure upserts the same users and event ids: no copies.
            possible_duplicates=0,
            elapsed=resp.elapsed,
            filtered_out_fields=parsed.filteredOutFields,
        )
        if parsed.filteredOutFields:
            log.warning(
                "iterable %s dropped fields %s: the project does not accept new fields",
                path,
                parsed.filteredOutFields,
            )
        return result

    def send_user_batch(self, batch: Batch) -> BatchResult:
        return self._send(BULK_UPDATE_PATH, _USERS_OPEN, batch)

    def send_event_batch(self, batch: Batch) -> BatchResult:
        return self._send(TRACK_BULK_PATH, _EVENTS_OPEN, batch)

    def update_users(self, items: Iterable[Item]) -> Iterator[tuple[Batch, BatchResult]]:
        """Profiles through users/bulkUpdate; yields each batch with its per-row outcomes."""
        return send_all(
            self.user_batches(items), self.send_user_batch, concurrency=self.settings.concurrency
        )

    def track_events(self, items: Iterable[Item]) -> Iterator[tuple[Batch, BatchResult]]:
        """Events through events/trackBulk; ``id`` makes a resent event an update."""
        return send_all(
            self.event_batches(items), self.send_event_batch, concurrency=self.settings.concurrency
        )

    def forget(self, people: Iterable[tuple[str, str]]) -> Iterator[Removal]:
        """GDPR forget, one user per request (3/s), by the identity each was sent with: Iterable
        deletes the user and refuses later data for that identity (bulk calls then list it as
        forgotten)."""
        for kind, identity in people:
            error = self._user_call(
                FORGET_PATH, {"userId" if kind == "userId" else "email": identity}
            )
            yield Removal(kind, identity, error)

    def merge_users(self, merges: Iterable[tuple[str, str]]) -> Iterator[IdentityMerge]:
        """``users/merge``, one per request (50/s per key): the user known by ``sourceEmail`` is
        merged into the one with ``destinationUserId`` (its events and the fields the
        destination lacks follow; then it is deleted), or takes the userId when there is none."""
        for email, user_id in merges:
            error = self._user_call(
                MERGE_PATH, {"sourceEmail": email, "destinationUserId": user_id}
            )
            yield IdentityMerge(email, user_id, error)

    def _user_call(self, path: str, body: dict) -> str | None:
        """One request about one user, paced by its endpoint: None, or why it failed."""
        data = json.dumps(body).encode()
        return call_about_people(lambda: self.http.post(path, data, pacer=self.pacers[path]))
