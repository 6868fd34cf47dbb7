"""Braze client: profiles and events through ``/users/track``.

Braze answers 201 even when some objects failed, listing each by array and index, so outcomes map
back by position. Attributes and events go in separate requests: a batch is then exactly one
kind of row, and the window in which a crash can duplicate Braze events is one events batch.
"""

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from okendo_pipeline.defs.braze.limits import (
    DELETE_PATH,
    IDENTIFY_PATH,
    MAX_BODY_BYTES,
    MAX_DELETE_IDENTIFIERS,
    MAX_OBJECTS,
    TRACK_PATH,
    USER_ENDPOINTS_PER_SECOND,
)
from okendo_pipeline.defs.braze.models import ExternalIdSetting, TrackResponse
from okendo_pipeline.lib.destinations import (
    Batch,
    BatchLimits,
    BatchResult,
    IdentityMerge,
    Item,
    Outcome,
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
    WindowPacer,
)

log = logging.getLogger(__name__)

Array = Literal["attributes", "events"]
_CLOSE = b"]}"


def _opening(array: Array) -> bytes:
    return f'{{"{array}":['.encode()


@dataclass(frozen=True, kw_only=True)
class BrazeSettings(SendSettings):
    """Everything but the key. ``rest_endpoint`` is the workspace's cluster, e.g.
    ``https://rest.iad-01.braze.com``."""

    rest_endpoint: str
    external_id: ExternalIdSetting = "email"
    max_objects: int = MAX_OBJECTS
    max_body_bytes: int = MAX_BODY_BYTES
    concurrency: int = 8
    rate_fraction: float | None = 0.95


def normalise_endpoint(endpoint: str) -> str:
    """Accept ``rest.iad-01.braze.com`` as well as the full URL."""
    endpoint = endpoint.strip().rstrip("/")
    return endpoint if "://" in endpoint else f"https://{endpoint}"


def result_from_track(
    batch: Batch, array: Array, status: int, response: TrackResponse
) -> BatchResult:
    """Every row's outcome, by position: objects named in ``errors[]`` (this array, by index)
    are rejected with Braze's reason (the same object would fail again); the rest were
    accepted. A 201 whose message is not "success" is a failed request (all rows retried); 202
    "queued" means received."""
    if status != 202 and response.message != "success":
        reason = f"braze {TRACK_PATH}: {response.message or 'no message'}"
        return BatchResult(batch, "retry", reason)
    rejected: dict[int, Outcome] = {}
    for err in response.errors:
        if err.input_array == array and err.index is not None and 0 <= err.index < len(batch):
            rejected.setdefault(err.index, ("rejected", err.type))
        else:
            log.warning("braze error not tied to a row of this batch: %s", err.model_dump())
    return BatchResult(batch, exceptions=rejected)


class BrazeClient:
    """Sends profiles and events to one Braze workspace. Use as a context manager."""

    def __init__(self, api_key: str, settings: BrazeSettings) -> None:
        if not api_key:
            raise AuthError("Braze: no API key (set BRAZE_API_KEY)")
        if not settings.rest_endpoint:
            raise ValueError("Braze: no REST endpoint (set BRAZE_REST_ENDPOINT)")
        self.settings = s = settings
        self.http = HttpClient(
            destination="braze",
            base_url=normalise_endpoint(s.rest_endpoint),
            secret_headers={"Authorization": f"Bearer {api_key}"},
            timeouts=s.timeouts,
            retry=s.retry,
            auth_statuses=frozenset({401, 403, 404}),
            pool_size=max(s.concurrency, 1),
        )
        # /users/track counts its 3-second window in every answer: spend that count, at most
        # rate_fraction of each window (Braze's limit is per workspace, shared with its other
        # senders), instead of a steady rate below the limit.
        self.pacer = WindowPacer(s.rate_fraction, in_flight=max(s.concurrency, 1))
        self.user_pacer = TokenBucket(
            USER_ENDPOINTS_PER_SECOND * s.rate_fraction if s.rate_fraction else None
        )

    def __enter__(self) -> "BrazeClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def limits(self, array: Array) -> BatchLimits:
        """What one ``/users/track`` request of ``array`` objects may carry."""
        return BatchLimits(
            max_count=self.settings.max_objects,
            max_bytes=self.settings.max_body_bytes,
            overhead=len(_opening(array)) + len(_CLOSE),
        )

    def batches(self, array: Array, items: Iterable[Item]) -> Iterator[Batch]:
        limits = self.limits(array)
        return batches(
            items,
            max_count=limits.max_count,
            max_bytes=limits.max_bytes,
            overhead=limits.overhead,
        )

    def send_batch(self, array: Array, batch: Batch) -> BatchResult:
        body = batch.body(_opening(array), _CLOSE)
        try:
            resp = self.http.post(TRACK_PATH, body, pacer=self.pacer)
        except AuthError:
            raise
        except DestinationError as exc:
            return failed_batch(batch, exc)
        try:
            parsed = TrackResponse.model_validate(resp.json() or {})
        except (ValidationError, ValueError) as exc:
            return failed_batch(batch, f"braze {TRACK_PATH}: unreadable body ({exc})", 1)
        result = result_from_track(batch, array, resp.status, parsed)
        result.requests = resp.attempts
        result.elapsed = resp.elapsed
        if array == "events" and resp.ambiguous_retries:
            # An earlier attempt may have been applied: Braze keeps every copy it receives.
            result.possible_duplicates = result.count("accepted")
        return result

    def track_attributes(self, items: Iterable[Item]) -> Iterator[tuple[Batch, BatchResult]]:
        """Profile attributes; yields each batch with its per-row outcomes."""
        return send_all(
            self.batches("attributes", items),
            lambda b: self.send_batch("attributes", b),
            concurrency=self.settings.concurrency,
        )

    def track_events(self, items: Iterable[Item]) -> Iterator[tuple[Batch, BatchResult]]:
        """Events, one batch in flight at a time: a crash can duplicate at most one batch."""
        return send_all(
            self.batches("events", items), lambda b: self.send_batch("events", b), concurrency=1
        )

    def delete_users(self, people: Iterable[tuple[str, str]]) -> Iterator[Removal]:
        """``/users/delete``, up to 50 identifiers of one kind per request: ``external_ids``, or
        ``email_addresses`` for people sent by email (their profile is the email-only one, so
        unidentified profiles come first). Braze queues the deletion and answers at once."""
        by_kind: dict[str, list[str]] = {}
        for kind, identity in people:
            by_kind.setdefault(kind, []).append(identity)
        for kind, identities in sorted(by_kind.items()):
            for start in range(0, len(identities), MAX_DELETE_IDENTIFIERS):
                chunk = identities[start : start + MAX_DELETE_IDENTIFIERS]
                if kind == "email":
                    prioritization = ["unidentified", "most_recently_updated"]
                    body = {"email_addresses": [
                        {"email": e, "prioritization": prioritization} for e in chunk
                    ]}  # fmt: skip
                else:
                    body = {"external_ids": chunk}
                error = self._user_call(DELETE_PATH, body)
                yield from (Removal(kind, i, error) for i in chunk)

    def identify(self, merges: Iterable[tuple[str, str]]) -> Iterator[IdentityMerge]:
        """``/users/identify`` with ``emails_to_identify`` (50 per request): each email-only
        profile is merged into the profile with the external id (its custom attributes, events
        and purchases follow), or takes the id when no profile has it."""
        pending = list(merges)
        prioritization = ["unidentified", "most_recently_updated"]
        for start in range(0, len(pending), MAX_DELETE_IDENTIFIERS):
            chunk = pending[start : start + MAX_DELETE_IDENTIFIERS]
            body = {"emails_to_identify": [
                {"external_id": ext, "email": email, "prioritization": prioritization}
                for email, ext in chunk
            ]}  # fmt: skip
            error = self._user_call(IDENTIFY_PATH, body)
            yield from (IdentityMerge(e, i, error) for e, i in chunk)

    def _user_call(self, path: str, body: dict) -> str | None:
        """One request to a user endpoint (their shared window): None, or why it failed."""
        data = json.dumps(body).encode()
        return call_about_people(lambda: self.http.post(path, data, pacer=self.user_pacer))
