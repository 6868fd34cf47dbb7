"""Resources shared by every system: the warehouse, the landing folder, the run's settings.

All three are built from the pipeline's settings object when the definitions load; the command
line's flags (``--database``, ``--landing``, ``--as-of``) override their fields for one run
through the run config, so no code writes the environment.
"""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field, PrivateAttr

from okendo_pipeline import settings
from okendo_pipeline.lib import warehouse
from okendo_pipeline.lib.sync.settings import SyncSettings


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB file every step writes (``OKENDO_DUCKDB_PATH``), as an absolute path: dbt,
    which runs in its project folder, must open the same file; and the copy analysts query
    (``OKENDO_ANALYTICS_PATH``), published from it after each run."""

    database: str
    analytics: str = str(settings.DEFAULT_ANALYTICS_PATH.resolve())
    memory_limit: str = warehouse.DEFAULT_MEMORY_LIMIT
    threads: int | None = None
    _hold: ExitStack = PrivateAttr(default_factory=ExitStack)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """A run holds the warehouse from its start to its end (``warehouse.held``): runs
        never interleave their steps, and one launched meanwhile waits here. Sensors and
        schedules, which only read, take nothing."""
        if context.run_id:
            self._hold.enter_context(
                warehouse.held(self.database, context.run_id, waiting=context.log.info)
            )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._hold.close()

    def analytics_path(self) -> Path:
        return Path(self.analytics)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(
            self.database, memory_limit=self.memory_limit, threads=self.threads
        ) as conn:
            yield conn


class LandingResource(dg.ConfigurableResource):
    """The landing folder of envelope files (``OKENDO_LANDING_DIR``)."""

    path: str


class RunSettingsResource(dg.ConfigurableResource):
    """What a run computes as of, and how it syncs: ``as_of`` (ISO date; unset = today in UTC
    when the run starts), the points expiry, the sync's backfill, attempts and log days, and
    ``full_refresh``: rebuild every model from raw instead of the touched customers;
    ``dry_run``: syncs compute and store exactly what they would send, and send nothing;
    ``sync_max_change_share``: the guard's limit; ``sync_on_removed``: ``keep`` or ``clear``
    (every field sent as null, once, for a customer who left the marts); ``approve``:
    destinations (or ``all``) whose plan this run sends even when the guard would hold it."""

    as_of: str | None = None
    full_refresh: bool = False
    dry_run: bool = False
    points_expiry_months: int = 12
    events_backfill_start: str = "30d"
    sync_max_attempts: int = 10
    sync_log_days: int = 30
    sync_max_change_share: float = 0.25
    sync_on_removed: str = "keep"
    approve: list[str] = Field(default_factory=list)

    def reference_date(self) -> date:
        return date.fromisoformat(self.as_of) if self.as_of else datetime.now(UTC).date()

    def dbt_vars(self, warehouse: WarehouseResource) -> dict[str, object]:
        """dbt's vars for a build: the warehouse and its memory bound (dbt's profile reads
        them), the reference date (so builds can be replayed) and the points expiry."""
        return {
            "duckdb_path": warehouse.database,
            "memory_limit": warehouse.memory_limit,
            "as_of": self.reference_date().isoformat(),
            "points_expiry_months": self.points_expiry_months,
        }

    def approved(self, destination: str) -> bool:
        return destination in self.approve or "all" in self.approve

    def sync_settings(self, destination: str | None = None) -> SyncSettings:
        """For ``destination``'s sync: approved or not; without one, never approved."""
        return SyncSettings(
            as_of=self.reference_date(),
            events_backfill_start=self.events_backfill_start,
            max_attempts=self.sync_max_attempts,
            log_days=self.sync_log_days,
            dry_run=self.dry_run,
            max_change_share=self.sync_max_change_share,
            on_removed=self.sync_on_removed,
            approved=destination is not None and self.approved(destination),
        )


@dg.definitions
def defs() -> dg.Definitions:
    s = settings.load()
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(
                database=str(s.duckdb_path), analytics=str(s.analytics_path)
            ),
            "landing": LandingResource(path=str(s.landing_dir)),
            "run_settings": RunSettingsResource(
                as_of=s.as_of.isoformat() if s.as_of else None,
                points_expiry_months=s.points_expiry_months,
                events_backfill_start=s.events_backfill_start,
                sync_max_attempts=s.sync_max_attempts,
                sync_log_days=s.sync_log_days,
                sync_max_change_share=s.sync_max_change_share,
                sync_on_removed=s.sync_on_removed,
                dry_run=s.dry_run,
            ),
        }
    )
