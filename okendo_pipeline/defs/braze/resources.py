"""The Braze client as a Dagster resource; the key only ever arrives as ``dg.EnvVar``."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from okendo_pipeline.defs.common.destination import DestinationResource
from okendo_pipeline.lib.braze.client import BrazeClient, BrazeSettings
from okendo_pipeline.lib.braze.models import MAX_OBJECTS
from okendo_pipeline.utils import environment


class BrazeResource(DestinationResource):
    """A Braze workspace (CONTRACT section 4-5). No key = the destination is off."""

    rest_endpoint: str = ""
    external_id: str = "email"
    max_objects: int = MAX_OBJECTS
    concurrency: int = 4

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
