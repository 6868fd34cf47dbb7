"""Every setting of the pipeline in one typed object, read from the environment once.

pydantic-settings reads and validates the variables the specification lists ("Settings"), so a
bad value fails at start with the variable's name, and every part of the pipeline receives the
same parsed values (``load()``) instead of reading ``os.environ`` on its own. Secrets are
``SecretStr``: the object knows whether a key is set (a destination without one is off) but
never prints it, and resources receive the key itself only as ``dg.EnvVar``, resolved by
Dagster at run time.

A destination contributes one field here (its own settings class, in its folder): that field
is the one line a new destination adds outside its folder.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from okendo_pipeline.defs.braze.config import BrazeConfig
from okendo_pipeline.defs.iterable.config import IterableConfig
from okendo_pipeline.lib.alerts import AlertSettings
from okendo_pipeline.lib.okendo.sources.api import BASE_URL as OKENDO_API_BASE_URL
from okendo_pipeline.lib.okendo.sources.webhooks import ROTATE_SECONDS
from okendo_pipeline.lib.sync.settings import backfill_cutoff

DEFAULT_DUCKDB_PATH = Path("data/okendo.duckdb")
DEFAULT_LANDING_DIR = Path("data/landing")
DEFAULT_ANALYTICS_PATH = Path("data/okendo_analytics.duckdb")


class SettingsError(ValueError):
    """A setting with a value the pipeline cannot use; the message names the variable."""


class Settings(BaseSettings):
    """``OKENDO_*`` variables, plus one group per destination (``ITERABLE_*``, ``BRAZE_*``)."""

    model_config = SettingsConfigDict(env_prefix="OKENDO_", extra="ignore", frozen=True)

    duckdb_path: Path = DEFAULT_DUCKDB_PATH
    landing_dir: Path = DEFAULT_LANDING_DIR
    analytics_path: Path = DEFAULT_ANALYTICS_PATH
    as_of: date | None = None  # None = today in UTC, decided when a run starts
    points_expiry_months: int = Field(12, ge=0)
    events_backfill_start: str = "30d"
    sync_max_attempts: int = Field(10, ge=1)
    sync_log_days: int = Field(30, ge=0)
    sync_max_change_share: float = Field(0.25, ge=0, le=1)
    sync_on_removed: Literal["keep", "clear"] = "keep"
    dry_run: bool = False
    webhook_secret: SecretStr | None = None
    webhook_rotate_seconds: float = Field(ROTATE_SECONDS, gt=0)
    api_user: SecretStr | None = None
    api_key: SecretStr | None = None
    api_base_url: str = OKENDO_API_BASE_URL
    api_overlap_days: float = Field(7.0, ge=0)
    alert_webhook_url: SecretStr | None = None  # a Slack webhook URL is itself a credential
    alert_rejected_share: float = Field(0.01, ge=0, le=1)

    # Destinations: one line each.
    iterable: IterableConfig = Field(default_factory=IterableConfig)
    braze: BrazeConfig = Field(default_factory=BrazeConfig)

    @field_validator("events_backfill_start")
    @classmethod
    def _backfill(cls, value: str) -> str:
        backfill_cutoff(value, date(2000, 1, 1))  # raises on a malformed value
        return value.strip()

    @field_validator("duckdb_path", "analytics_path")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        """Every process that opens the warehouse, dbt's included, must mean the same file,
        whatever its working folder: resolve against the folder the settings were read in."""
        return value.resolve()

    @property
    def okendo_api_enabled(self) -> bool:
        return bool(self.api_user and self.api_key)

    def reference_date(self) -> date:
        return self.as_of or datetime.now(UTC).date()

    @classmethod
    def destinations(cls) -> list[str]:
        """Every destination's name: the fields holding a destination's settings group."""
        return [
            name
            for name, info in cls.model_fields.items()
            if isinstance(info.annotation, type) and issubclass(info.annotation, BaseSettings)
        ]

    def secret_values(self) -> tuple[str, ...]:
        """Every secret's value, here and in the destinations' groups: what no alert, log or
        file may contain."""
        groups = [self, *(getattr(self, n) for n in self.destinations())]
        return tuple(
            v.get_secret_value()
            for group in groups
            for v in vars(group).values()
            if isinstance(v, SecretStr) and v.get_secret_value()
        )

    def alerts(self) -> AlertSettings:
        url = self.alert_webhook_url.get_secret_value() if self.alert_webhook_url else None
        return AlertSettings(url, self.alert_rejected_share, self.secret_values())

    def syncing(self) -> list[str]:
        """The destinations a run syncs: those with a key, or every one in a dry run."""
        return [n for n in self.destinations() if self.dry_run or getattr(self, n).enabled]


def _groups() -> dict[str, type[BaseSettings]]:
    """Settings and each destination's group, by class name (the title of their errors)."""
    groups: dict[str, type[BaseSettings]] = {"Settings": Settings}
    for name in Settings.destinations():
        kind = Settings.model_fields[name].annotation
        assert isinstance(kind, type) and issubclass(kind, BaseSettings)
        groups[kind.__name__] = kind
    return groups


def _variable(error: ValidationError) -> str:
    """The environment variable a validation error is about."""
    prefix = _groups().get(error.title, Settings).model_config.get("env_prefix", "")
    first = error.errors()[0]
    return f"{prefix}{first['loc'][0]}".upper() if first["loc"] else error.title


def read(**overrides: object) -> Settings:
    """Settings from the environment, ``overrides`` (command-line flags) taking precedence;
    a bad value raises ``SettingsError`` naming the variable and what is wrong with it."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SettingsError(f"{_variable(exc)}={first.get('input')!r}: {first['msg']}") from None


@functools.cache
def load() -> Settings:
    """The settings of this process, read once (the definitions and the command line share
    them). Tests that change the environment call ``load.cache_clear()``."""
    return read()
