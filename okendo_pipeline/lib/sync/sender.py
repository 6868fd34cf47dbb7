"""What the engine needs from a destination's client: batching and sending, per kind of row."""

from collections.abc import Iterator
from typing import Protocol

from okendo_pipeline.lib.destinations import Batch, BatchResult, Item


class Sender(Protocol):
    """``profile_concurrency``: profile batches in flight at once (events go one at a time);
    ``events_need_intent``: the destination keeps every copy of an event it receives, so a
    ``sending`` entry is committed before each events batch goes out (a crash then costs at most
    that one batch, which the next run reports as possibly duplicated)."""

    profile_concurrency: int
    events_need_intent: bool

    def profile_batches(self, items: Iterator[Item]) -> Iterator[Batch]: ...
    def send_profile_batch(self, batch: Batch) -> BatchResult: ...
    def event_batches(self, items: Iterator[Item]) -> Iterator[Batch]: ...
    def send_event_batch(self, batch: Batch) -> BatchResult: ...
