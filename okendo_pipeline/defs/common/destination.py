"""What both destination resources share: the key, pacing and the HTTP layer's settings."""

import dagster as dg

from okendo_pipeline.lib.http import RetryPolicy, Timeouts


class DestinationResource(dg.ConfigurableResource):
    """No key = the destination is off. ``rate_fraction`` of the documented limit paces sends
    (0 = unpaced, for servers without limits)."""

    api_key: str | None = None
    max_body_bytes: int = 4 * 1024 * 1024
    rate_fraction: float = 0.9
    concurrency: int = 1
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 5

    @property
    def enabled(self) -> bool:
        return bool(self.api_key)

    def http_settings(self) -> dict:
        """The keyword arguments every client's settings take."""
        return {
            "max_body_bytes": self.max_body_bytes,
            "rate_fraction": self.rate_fraction or None,
            "concurrency": self.concurrency,
            "timeouts": Timeouts(self.connect_timeout, self.read_timeout),
            "retry": RetryPolicy(max_attempts=self.max_attempts),
        }
