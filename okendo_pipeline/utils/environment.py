"""The one place that reads non-secret settings from the environment (CONTRACT section 5-6).

Secrets (API keys, webhook secret) are never read here: they reach resources as ``dg.EnvVar`` so
Dagster resolves them at run time and never prints them.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

DEFAULT_DUCKDB_PATH = "data/okendo.duckdb"
DEFAULT_LANDING_DIR = "data/landing"


def duckdb_path() -> str:
    """Absolute path of the warehouse file (``OKENDO_DUCKDB_PATH``, relative to the working
    folder): every process that opens it, dbt's included, must mean the same file."""
    return str(Path(os.environ.get("OKENDO_DUCKDB_PATH") or DEFAULT_DUCKDB_PATH).resolve())


def landing_dir() -> str:
    """Path of the landing folder (``OKENDO_LANDING_DIR``)."""
    return os.environ.get("OKENDO_LANDING_DIR") or DEFAULT_LANDING_DIR


def as_of_date() -> date:
    """The run's reference date (``OKENDO_AS_OF``, ISO date); today in UTC when unset."""
    raw = os.environ.get("OKENDO_AS_OF")
    return parse_as_of(raw) if raw else datetime.now(UTC).date()


def parse_as_of(raw: str) -> date:
    """Parse an ``--as-of`` value, with an error that names the bad value."""
    try:
        return date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise ValueError(f"as-of date {raw!r} is not an ISO date (YYYY-MM-DD)") from exc


def ensure_parent(path: str) -> Path:
    """Create the folder a file will live in; returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def points_expiry_months() -> int:
    """``OKENDO_POINTS_EXPIRY_MONTHS``: months after the latest activity; 0 = never expire."""
    raw = os.environ.get("OKENDO_POINTS_EXPIRY_MONTHS", "12").strip() or "12"
    if not raw.isdigit():
        raise ValueError(f"OKENDO_POINTS_EXPIRY_MONTHS={raw!r} is not a whole number of months")
    return int(raw)


# -- destinations (CONTRACT section 5) ---------------------------------------------------------

ITERABLE_US_BASE_URL = "https://api.iterable.com"


def secret_is_set(name: str) -> bool:
    """Whether a secret variable is present (its value is never read here: a destination with
    no key is off)."""
    return bool(os.environ.get(name, "").strip())


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = os.environ.get(name, "").strip() or default
    if raw not in allowed:
        raise ValueError(f"{name}={raw!r} must be one of {', '.join(allowed)}")
    return raw


def iterable_base_url() -> str:
    """``ITERABLE_BASE_URL``: the project's data center (US default, EU host, or a fake)."""
    return os.environ.get("ITERABLE_BASE_URL", "").strip() or ITERABLE_US_BASE_URL


def iterable_identifier() -> str:
    """``ITERABLE_IDENTIFIER``: ``email`` (default) or ``userId`` (the Shopify customer id)."""
    return _choice("ITERABLE_IDENTIFIER", "email", ("email", "userId"))


def braze_rest_endpoint() -> str:
    """``BRAZE_REST_ENDPOINT``: the workspace's REST host; no default (one per cluster)."""
    return os.environ.get("BRAZE_REST_ENDPOINT", "").strip()


def braze_external_id() -> str:
    """``BRAZE_EXTERNAL_ID``: ``email`` (default) or ``shopify_customer_id``."""
    return _choice("BRAZE_EXTERNAL_ID", "email", ("email", "shopify_customer_id"))


# -- sync (CONTRACT sections 4-6) --------------------------------------------------------------

DEFAULT_EVENTS_BACKFILL_START = "30d"


def events_backfill_start() -> str:
    """``OKENDO_EVENTS_BACKFILL_START``: ``all``, ``none``, an ISO date or ``<N>d``; validated."""
    raw = (
        os.environ.get("OKENDO_EVENTS_BACKFILL_START", "").strip() or DEFAULT_EVENTS_BACKFILL_START
    )
    events_cutoff(raw, date(2000, 1, 1))  # raises with the variable's name when malformed
    return raw


def events_cutoff(raw: str, as_of: date) -> datetime | None:
    """The oldest ``occurred_at`` a newly added destination receives: None = all events;
    ``none`` = no event that exists when the destination is added (cutoff far in the future)."""
    value = raw.strip().lower()
    if value == "all":
        return None
    if value == "none":
        return datetime(9999, 12, 31)
    if value.endswith("d") and value[:-1].isdigit():
        start = as_of.toordinal() - int(value[:-1])
        return datetime.combine(date.fromordinal(start), datetime.min.time())
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time())
    except ValueError:
        raise ValueError(
            f"OKENDO_EVENTS_BACKFILL_START={raw!r} must be all, none, an ISO date or <N>d"
        ) from None


def dry_run() -> bool:
    """``OKENDO_DRY_RUN`` (set by ``run --dry-run``): compute and store, send nothing."""
    return os.environ.get("OKENDO_DRY_RUN", "").strip().lower() in {"1", "true", "yes"}


def _whole_number(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip() or str(default)
    if not raw.isdigit():
        raise ValueError(f"{name}={raw!r} is not a whole number")
    return int(raw)


def sync_log_days() -> int:
    """``OKENDO_SYNC_LOG_DAYS``: days the per-row sync log is kept (default 30)."""
    return _whole_number("OKENDO_SYNC_LOG_DAYS", 30)


def sync_max_attempts() -> int:
    """``OKENDO_SYNC_MAX_ATTEMPTS``: runs a row may fail in before it is rejected (default 10)."""
    return _whole_number("OKENDO_SYNC_MAX_ATTEMPTS", 10)


def webhook_rotate_seconds() -> float:
    """``OKENDO_WEBHOOK_ROTATE_SECONDS``: how long the receiver appends to one landing file
    before publishing it (default 60)."""
    raw = os.environ.get("OKENDO_WEBHOOK_ROTATE_SECONDS", "").strip() or "60"
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"OKENDO_WEBHOOK_ROTATE_SECONDS={raw!r} is not a number") from None
    if value <= 0:
        raise ValueError("OKENDO_WEBHOOK_ROTATE_SECONDS must be above 0")
    return value


OKENDO_API_BASE_URL = "https://api.okendo.io/enterprise"


def okendo_api_base_url() -> str:
    """``OKENDO_API_BASE_URL``: the Okendo Enterprise API host (a fake in tests)."""
    return os.environ.get("OKENDO_API_BASE_URL", "").strip() or OKENDO_API_BASE_URL


def okendo_api_overlap_days() -> float:
    """``OKENDO_API_OVERLAP_DAYS``: how far below its watermark each extraction reads again
    (default 7: reviews moderated or indexed late within a week are caught)."""
    raw = os.environ.get("OKENDO_API_OVERLAP_DAYS", "").strip() or "7"
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"OKENDO_API_OVERLAP_DAYS={raw!r} is not a number of days") from None
