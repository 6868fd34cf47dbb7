"""The Iterable client as a Dagster resource; the key only ever arrives as ``dg.EnvVar``."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from okendo_pipeline.defs.common.destination import DestinationResource
from okendo_pipeline.lib.iterable.client import IterableClient, IterableSettings
from okendo_pipeline.lib.iterable.models import DEFAULT_BATCH_SIZE, US_BASE_URL
from okendo_pipeline.utils import environment


class IterableResource(DestinationResource):
    """An Iterable project (CONTRACT section 4-5). No key = the destination is off."""

    base_url: str = US_BASE_URL
    identifier: str = "email"
    batch_size: int = DEFAULT_BATCH_SIZE

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


def iterable_resource() -> IterableResource:
    """Built from the environment: the key as ``EnvVar`` only when it is set."""
    return IterableResource(
        api_key=dg.EnvVar("ITERABLE_API_KEY")
        if environment.secret_is_set("ITERABLE_API_KEY")
        else None,
        base_url=environment.iterable_base_url(),
        identifier=environment.iterable_identifier(),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"iterable": iterable_resource()})
