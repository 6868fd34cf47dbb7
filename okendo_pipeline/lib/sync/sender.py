"""What the engine needs from a destination's client: batching and sending, per kind of row."""

from collections.abc import Iterator
from typing import Protocol

from okendo_pipeline.lib.destinations import Batch, BatchLimits, BatchResult, IdentityMerge, Item


class Sender(Protocol):
    """``profile_concurrency``: profile batches in flight at once (events go one at a time);
    ``events_need_intent``: the destination keeps every copy of an event it receives, so a
    ``sending`` entry is committed before each events batch goes out (a crash then costs at most
    that one batch, which the next run reports as possibly duplicated); ``profile_limits``: what
    one profile request carries, for profiles rendered and joined in SQL; ``merge_identities``:
    a customer sent by email who now has an id becomes one profile there before anything goes
    out under the id."""

    profile_concurrency: int
    events_need_intent: bool

    @property
    def profile_limits(self) -> BatchLimits: ...

    def profile_batches(self, items: Iterator[Item]) -> Iterator[Batch]: ...
    def send_profile_batch(self, batch: Batch) -> BatchResult: ...
    def event_batches(self, items: Iterator[Item]) -> Iterator[Batch]: ...
    def send_event_batch(self, batch: Batch) -> BatchResult: ...
    def merge_identities(self, merges: list[tuple[str, str]]) -> Iterator[IdentityMerge]:
        """(email, new identity): the email-only profile becomes, or joins, the identified."""
        ...
