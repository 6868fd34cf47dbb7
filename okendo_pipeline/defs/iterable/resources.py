"""The Iterable client as a Dagster resource, built from Iterable's settings."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import dagster as dg

from okendo_pipeline.defs.iterable.client import IterableClient, IterableSettings
from okendo_pipeline.defs.iterable.codec import codec
from okendo_pipeline.defs.iterable.config import IterableConfig
from okendo_pipeline.defs.iterable.limits import DEFAULT_BATCH_SIZE, US_BASE_URL
from okendo_pipeline.defs.iterable.sender import IterableSender
from okendo_pipeline.defs.sync.resource import DestinationResource
from okendo_pipeline.lib.destinations import Removal
from okendo_pipeline.lib.sync.codec import Codec


class IterableResource(DestinationResource):
    """An Iterable project. No key = the destination is off."""

    title: ClassVar[str] = "Iterable"
    key_variable: ClassVar[str] = "ITERABLE_API_KEY"

    base_url: str = US_BASE_URL
    identifier: str = "email"
    batch_size: int = DEFAULT_BATCH_SIZE
    # Iterable's limits are leaky buckets with a little room for a burst: a steady 98 % of the
    # documented rate never fills one, and two profile batches in flight keep the pace while
    # Iterable takes a few hundred milliseconds over each 1,000 users.
    rate_fraction: float = 0.98
    concurrency: int = 2

    def settings(self) -> IterableSettings:
        return IterableSettings(
            base_url=self.base_url,
            identifier="userId" if self.identifier == "userId" else "email",
            batch_size=self.batch_size,
            **self.http_settings(),
        )

    @contextmanager
    def client(self) -> Iterator[IterableClient]:
        with IterableClient(self.api_key or "", self.settings()) as client:
            yield client

    def codec(self) -> Codec:
        return codec(self.identifier)

    def remove_people(self, people: list[tuple[str, str]]) -> Iterator[Removal]:
        with self.client() as client:
            yield from client.forget(people)

    @contextmanager
    def sender(self) -> Iterator[IterableSender]:
        with self.client() as client:
            yield IterableSender(client)


def resource(config: IterableConfig) -> IterableResource:
    """The key as ``EnvVar`` only when it is set: the resource is then on."""
    return IterableResource(
        api_key=dg.EnvVar("ITERABLE_API_KEY") if config.enabled else None,
        base_url=config.base_url,
        identifier=config.identifier,
    )
