"""The Braze client as a Dagster resource; the key only ever arrives as ``dg.EnvVar``."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from okendo_pipeline.lib.braze.client import BrazeClient, BrazeSettings
from okendo_pipeline.lib.braze.models import MAX_BODY_BYTES, MAX_OBJECTS
from okendo_pipeline.lib.http import RetryPolicy, Timeouts
from okendo_pipeline.utils import environment


class BrazeResource(dg.ConfigurableResource):
    """A Braze workspace (CONTRACT section 4-5). No key = the destination is off."""

    api_key: str | None = None
    rest_endpoint: str = ""
    external_id: str = "email"
    max_objects: int = MAX_OBJECTS
    max_body_bytes: int = MAX_BODY_BYTES
    rate_fraction: float = 0.9
    concurrency: int = 4
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 5

    @property
    def enabled(self) -> bool:
        return bool(self.api_key)

    def settings(self) -> BrazeSettings:
        return BrazeSettings(
            rest_endpoint=self.rest_endpoint,
            external_id="shopify_customer_id"
            if self.external_id == "shopify_customer_id"
            else "email",
            max_objects=self.max_objects,
            max_body_bytes=self.max_body_bytes,
            rate_fraction=self.rate_fraction or None,
            concurrency=self.concurrency,
            timeouts=Timeouts(self.connect_timeout, self.read_timeout),
            retry=RetryPolicy(max_attempts=self.max_attempts),
        )

    @contextmanager
    def client(self) -> Iterator[BrazeClient]:
        with BrazeClient(self.api_key or "", self.settings()) as client:
            yield client


def braze_resource() -> BrazeResource:
    """Built from the environment: the key as ``EnvVar`` only when it is set."""
    return BrazeResource(
        api_key=dg.EnvVar("BRAZE_API_KEY") if environment.secret_is_set("BRAZE_API_KEY") else None,
        rest_endpoint=environment.braze_rest_endpoint(),
        external_id=environment.braze_external_id(),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"braze": braze_resource()})
