"""The Braze client as the engine's ``Sender``."""

from collections.abc import Iterator
from dataclasses import dataclass

from okendo_pipeline.defs.braze.client import BrazeClient
from okendo_pipeline.lib.destinations import Batch, BatchLimits, BatchResult, IdentityMerge, Item


@dataclass
class BrazeSender:
    client: BrazeClient
    events_need_intent: bool = True  # Braze keeps every copy: record intent per batch

    @property
    def profile_concurrency(self) -> int:
        return self.client.settings.concurrency

    @property
    def profile_limits(self) -> BatchLimits:
        return self.client.limits("attributes")

    def profile_batches(self, items: Iterator[Item]) -> Iterator[Batch]:
        return self.client.batches("attributes", items)

    def send_profile_batch(self, batch: Batch) -> BatchResult:
        return self.client.send_batch("attributes", batch)

    def event_batches(self, items: Iterator[Item]) -> Iterator[Batch]:
        return self.client.batches("events", items)

    def send_event_batch(self, batch: Batch) -> BatchResult:
        return self.client.send_batch("events", batch)

    def merge_identities(self, merges: list[tuple[str, str]]) -> Iterator[IdentityMerge]:
        return self.client.identify(merges)
