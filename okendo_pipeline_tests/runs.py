"""Running the refresh job the way the schedule and the command line do, for tests."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest


def run_refresh(
    landing: Path, database: Path | str, as_of: str | None = None
) -> dg.ExecuteInProcessResult:
    """Point the settings at ``landing`` and ``database`` and run ``okendo_refresh`` in process."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OKENDO_LANDING_DIR", str(landing))
        mp.setenv("OKENDO_DUCKDB_PATH", str(database))
        if as_of:
            mp.setenv("OKENDO_AS_OF", as_of)
        from okendo_pipeline import settings
        from okendo_pipeline.definitions import defs

        settings.load.cache_clear()
        job = defs().resolve_job_def("okendo_refresh")
        settings.load.cache_clear()
        with dg.instance_for_test() as instance:
            return job.execute_in_process(instance=instance, raise_on_error=False)
