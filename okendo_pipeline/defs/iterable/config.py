"""Iterable's settings (``ITERABLE_*``), one group of the pipeline's settings object."""

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from okendo_pipeline.defs.iterable.limits import US_BASE_URL


class IterableConfig(BaseSettings):
    """``ITERABLE_API_KEY`` (no key: the destination is off unless dry run), ``ITERABLE_BASE_URL``
    (the project's data centre, US by default; ``https://api.eu.iterable.com`` for EU
    projects), ``ITERABLE_IDENTIFIER`` (``email`` or ``userId`` = the Shopify customer id)."""

    model_config = SettingsConfigDict(env_prefix="ITERABLE_", extra="ignore", frozen=True)

    api_key: SecretStr | None = None
    base_url: str = US_BASE_URL
    identifier: Literal["email", "userId"] = "email"

    @property
    def enabled(self) -> bool:
        """The one answer to "is Iterable on?": a key is set."""
        return bool(self.api_key and self.api_key.get_secret_value().strip())
