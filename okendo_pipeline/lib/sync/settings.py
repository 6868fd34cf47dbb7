"""What one sync run needs to know besides the destination: one value, passed through the run.

Built once per run from the pipeline's settings (``RunSettingsResource.sync_settings``), so
planning, sending and folding can never disagree about a limit, as they did when each function
had its own default.
"""

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, kw_only=True)
class SyncSettings:
    """``events_backfill_start`` as configured, and the cutoff it gives on this run's date;
    ``max_attempts``: runs a row may fail in before it is rejected; ``log_days``: how long the
    per-row journal is kept once folded; ``samples``: payloads a dry run shows in its report;
    ``max_change_share``: the guard's limit (``guard``); ``approved``: this run sends a plan
    the guard would hold; ``on_removed``: ``clear`` sends every field as null, once, for a
    customer who left the marts."""

    as_of: date
    events_backfill_start: str = "30d"
    max_attempts: int = 10
    log_days: int = 30
    dry_run: bool = False
    samples: int = 5
    max_change_share: float = 0.25
    approved: bool = False
    on_removed: str = "keep"  # or "clear"

    @property
    def events_cutoff(self) -> datetime | None:
        return backfill_cutoff(self.events_backfill_start, self.as_of)


def backfill_cutoff(raw: str, as_of: date) -> datetime | None:
    """The oldest ``occurred_at`` a newly added destination receives: ``all`` = no cutoff
    (None); ``none`` = no event that exists when the destination is added (a cutoff far in the
    future); ``<N>d`` = N days before ``as_of``; an ISO date = that day."""
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
        raise ValueError("must be all, none, an ISO date or <N>d (days before as_of)") from None
