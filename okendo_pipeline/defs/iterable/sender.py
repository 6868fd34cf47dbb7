"""The Iterable client as the engine's ``Sender``."""

from collections.abc import Iterator
from dataclasses import dataclass

from okendo_pipeline.defs.iterable.client import IterableClient
from okendo_pipeline.lib.destinations import Batch, BatchLimits, BatchResult, IdentityMerge, Item


@dataclass
class IterableSender:
    client: IterableClient
    events_need_intent: bool = False  # events carry id = event_id: a resend is an update

    @property
    def profile_concurrency(self) -> int:
        return self.client.settings.concurrency

    @property
    def profile_limits(self) -> BatchLimits:
        return self.client.user_limits

    def profile_batches(self, items: Iterator[Item]) -> Iterator[Batch]:
        return self.client.user_batches(items)

    def send_profile_batch(self, batch: Batch) -> BatchResult:
        return self.client.send_user_batch(batch)

    def event_batches(self, items: Iterator[Item]) -> Iterator[Batch]:
        return self.client.event_batches(items)

    def send_event_batch(self, batch: Batch) -> BatchResult:
        return self.client.send_event_batch(batch)

    def merge_identities(self, merges: list[tuple[str, str]]) -> Iterator[IdentityMerge]:
        return self.client.merge_users(merges)
