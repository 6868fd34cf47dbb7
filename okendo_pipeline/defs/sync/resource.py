"""What every destination's resource provides the sync: whether it is on, its codec, a sender.

The key arrives only as ``dg.EnvVar`` (set when the destination's settings have one), so Dagster
resolves it at run time and never shows it. The pacing and HTTP fields are the same for every
destination; each resource adds its own (host, identity setting, batch size).
"""

from abc import abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import dagster as dg

from okendo_pipeline.lib.destinations import Removal
from okendo_pipeline.lib.http import RetryPolicy, Timeouts
from okendo_pipeline.lib.sync.codec import Codec
from okendo_pipeline.lib.sync.sender import Sender


class DestinationResource(dg.ConfigurableResource):
    """No key = the destination is off. ``rate_fraction`` of the documented limit paces sends
    (0 = unpaced, for servers without limits); ``max_attempts`` and the delays bound the HTTP
    layer's retries of one request."""

    title: ClassVar[str]  # as people write it: "Iterable"
    key_variable: ClassVar[str]  # the API key's environment variable, for messages

    api_key: str | None = None
    max_body_bytes: int = 4 * 1024 * 1024
    rate_fraction: float = 0.9
    concurrency: int = 1
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 5
    max_rate_limited: int = 8
    retry_base_delay: float = 0.5
    retry_max_delay: float = 20.0

    @property
    def enabled(self) -> bool:
        return bool(self.api_key)

    def http_settings(self) -> dict[str, Any]:
        """The keyword arguments every client's settings take."""
        return {
            "max_body_bytes": self.max_body_bytes,
            "rate_fraction": self.rate_fraction or None,
            "concurrency": self.concurrency,
            "timeouts": Timeouts(self.connect_timeout, self.read_timeout),
            "retry": RetryPolicy(
                max_attempts=self.max_attempts,
                max_rate_limited=self.max_rate_limited,
                base_delay=self.retry_base_delay,
                max_delay=self.retry_max_delay,
            ),
        }

    @abstractmethod
    def codec(self) -> Codec:
        """The destination's identity rule and payload builders, per this resource's settings."""

    @abstractmethod
    def remove_people(self, people: list[tuple[str, str]]) -> Iterator[Removal]:
        """Erasure: remove each (identity kind, identity) from the destination."""

    @abstractmethod
    def sender(self) -> AbstractContextManager[Sender]:
        """A connected client as the engine's ``Sender``; closed on exit."""
