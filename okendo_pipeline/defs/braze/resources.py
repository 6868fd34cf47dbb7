"""The Braze client as a Dagster resource, built from Braze's settings."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import dagster as dg

from okendo_pipeline.defs.braze.client import BrazeClient, BrazeSettings
from okendo_pipeline.defs.braze.codec import codec
from okendo_pipeline.defs.braze.config import BrazeConfig
from okendo_pipeline.defs.braze.limits import MAX_OBJECTS
from okendo_pipeline.defs.braze.sender import BrazeSender
from okendo_pipeline.defs.sync.resource import DestinationResource
from okendo_pipeline.lib.destinations import Removal
from okendo_pipeline.lib.sync.codec import Codec


class BrazeResource(DestinationResource):
    """A Braze workspace. No key = the destination is off."""

    title: ClassVar[str] = "Braze"
    key_variable: ClassVar[str] = "BRAZE_API_KEY"

    rest_endpoint: str = ""
    external_id: str = "email"
    max_objects: int = MAX_OBJECTS
    # Eight profile batches in flight: each waits most of its time on the answer, and with
    # four the sync reached 56,000 profiles a second where eight reached 68,000 (same run).
    concurrency: int = 8
    # The share of each 3-second window the pipeline spends. Braze counts the whole
    # workspace's requests in the window it reports, so other senders' use already lowers what
    # is left for us; the last 5 % is headroom for their bursts.
    rate_fraction: float = 0.95

    def settings(self) -> BrazeSettings:
        return BrazeSettings(
            rest_endpoint=self.rest_endpoint,
            external_id="shopify_customer_id"
            if self.external_id == "shopify_customer_id"
            else "email",
            max_objects=self.max_objects,
            **self.http_settings(),
        )

    @contextmanager
    def client(self) -> Iterator[BrazeClient]:
        with BrazeClient(self.api_key or "", self.settings()) as client:
            yield client

    def codec(self) -> Codec:
        return codec(self.external_id)

    def remove_people(self, people: list[tuple[str, str]]) -> Iterator[Removal]:
        with self.client() as client:
            yield from client.delete_users(people)

    @contextmanager
    def sender(self) -> Iterator[BrazeSender]:
        with self.client() as client:
            yield BrazeSender(client)


def resource(config: BrazeConfig) -> BrazeResource:
    """The key as ``EnvVar`` only when it is set: the resource is then on."""
    return BrazeResource(
        api_key=dg.EnvVar("BRAZE_API_KEY") if config.enabled else None,
        rest_endpoint=config.rest_endpoint,
        external_id=config.external_id,
    )
