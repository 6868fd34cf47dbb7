"""The Okendo Enterprise API client as a resource; user and key only as ``dg.EnvVar``."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from okendo_pipeline import settings
from okendo_pipeline.lib.okendo.sources.api import BASE_URL, OkendoApiClient


class OkendoApiResource(dg.ConfigurableResource):
    """Okendo's merchant REST API (HTTP Basic: Okendo user id, API key). No key = off."""

    user: str | None = None
    key: str | None = None
    base_url: str = BASE_URL
    overlap_days: float = 7.0

    @property
    def enabled(self) -> bool:
        return bool(self.user and self.key)

    @contextmanager
    def client(self) -> Iterator[OkendoApiClient]:
        with OkendoApiClient(self.user or "", self.key or "", self.base_url) as client:
            yield client


@dg.definitions
def defs() -> dg.Definitions:
    s = settings.load()
    on = s.okendo_api_enabled
    return dg.Definitions(
        resources={
            "okendo_api": OkendoApiResource(
                user=dg.EnvVar("OKENDO_API_USER") if on else None,
                key=dg.EnvVar("OKENDO_API_KEY") if on else None,
                base_url=s.api_base_url,
                overlap_days=s.api_overlap_days,
            )
        }
    )
