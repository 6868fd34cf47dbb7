"""Braze's settings (``BRAZE_*``), one group of the pipeline's settings object."""

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from okendo_pipeline.defs.braze.models import ExternalIdSetting


class BrazeConfig(BaseSettings):
    """``BRAZE_API_KEY`` (no key: the destination is off unless dry run),
    ``BRAZE_REST_ENDPOINT`` (the workspace's cluster, e.g. ``https://rest.iad-01.braze.com``; no
    default, there is one per cluster), ``BRAZE_EXTERNAL_ID`` (``email`` or
    ``shopify_customer_id``)."""

    model_config = SettingsConfigDict(env_prefix="BRAZE_", extra="ignore", frozen=True)

    api_key: SecretStr | None = None
    rest_endpoint: str = ""
    external_id: ExternalIdSetting = "email"

    @property
    def enabled(self) -> bool:
        """The one answer to "is Braze on?": a key is set."""
        return bool(self.api_key and self.api_key.get_secret_value().strip())
