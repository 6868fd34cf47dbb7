"""Helpers for the sync tests: one sync run exactly as production runs it, and SQL helpers."""

from typing import Any

import dagster as dg
import duckdb
import pytest

from okendo_pipeline import settings
from okendo_pipeline.defs.sync.factory import op_handle
from okendo_pipeline.lib.sync.report import SyncReport
from okendo_pipeline.pipeline import config_of

AS_OF = "2026-11-01"
ITERABLE_KEY, BRAZE_KEY = "iterable-test-key", "braze-test-key"
KEYS = {"iterable": ("ITERABLE_API_KEY", ITERABLE_KEY), "braze": ("BRAZE_API_KEY", BRAZE_KEY)}
URLS = {"iterable": "ITERABLE_BASE_URL", "braze": "BRAZE_REST_ENDPOINT"}
# The HTTP layer's retries, fast: the fakes answer at once.
FAST = {"max_attempts": 4, "max_rate_limited": 30, "retry_base_delay": 0.01, "retry_max_delay": 0.1}


def sync(
    database: str,
    dest: str,
    url: str | None,
    *,
    dry_run: bool = False,
    backfill: str = "all",
    max_attempts: int = 10,
    run_settings: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    checks: dict[str, bool] | None = None,
    **resource: Any,
) -> SyncReport | None:
    """One run of the ``<dest>_sync`` job, as the sensor launches it: the settings come from the
    environment (the key, the URL, ``OKENDO_SYNC_MAX_ATTEMPTS``...), the definitions load from
    them, and the job runs its two ops in process. ``url`` None: no key, a dry run. ``resource``
    sets fields of the destination's resource (``batch_size``, ``concurrency``...) through the
    run config, ``run_settings`` fields of the run settings (``approve``...), ``env`` more
    variables. Returns the report the deliver op produced (None when the run failed); the
    asset checks' verdicts go into ``checks`` when given."""
    key_variable, key = KEYS[dest]
    env = {
        "OKENDO_DUCKDB_PATH": database,
        "OKENDO_AS_OF": AS_OF,
        "OKENDO_EVENTS_BACKFILL_START": backfill,
        "OKENDO_SYNC_MAX_ATTEMPTS": str(max_attempts),
        **(env or {}),
    }
    if url is not None:
        env |= {key_variable: key, URLS[dest]: url}
    with pytest.MonkeyPatch.context() as mp:
        for name in (*URLS.values(), *(k for k, _ in KEYS.values()), "OKENDO_DRY_RUN"):
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        settings.load.cache_clear()
        from okendo_pipeline.definitions import defs

        definitions = defs()
        job = definitions.resolve_job_def(f"{dest}_sync")
        run_config = {
            "resources": {
                dest: config_of(definitions.resources[dest], **FAST, **resource),
                "run_settings": config_of(
                    definitions.resources["run_settings"], dry_run=dry_run, **(run_settings or {})
                ),
            },
        }
        # The key is an EnvVar, resolved when the run starts: still inside the environment.
        with dg.instance_for_test() as instance:
            result = job.execute_in_process(
                run_config=run_config, instance=instance, raise_on_error=False
            )
            deliver = op_handle(dest, "deliver")
            report = result.output_for_node(deliver) if result.success else None
            for event in result.all_events:
                if checks is not None and event.event_type_value == "ASSET_CHECK_EVALUATION":
                    checks[event.event_specific_data.check_name] = event.event_specific_data.passed
    settings.load.cache_clear()
    return report


def scalar(database: str, sql: str, params: list | None = None) -> Any:
    with duckdb.connect(database, read_only=True) as conn:
        return conn.execute(sql, params or []).fetchone()[0]


def rows(database: str, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(database, read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def mart_counts(database: str) -> tuple[int, int]:
    """(profiles, events) in the marts."""
    return (
        scalar(database, "select count(*) from marts.customer_profiles"),
        scalar(database, "select count(*) from marts.customer_events"),
    )
