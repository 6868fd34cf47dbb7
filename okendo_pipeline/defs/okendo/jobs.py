"""The refresh job and its nightly schedule: load, rebuild; the sync sensors take it from there.
Between nights, ``okendo_landing_sensor`` launches the same job when files are published."""

import dagster as dg

from okendo_pipeline.defs.common.runs import WAREHOUSE_TAG

REFRESH_JOB = "okendo_refresh"

okendo_refresh = dg.define_asset_job(
    REFRESH_JOB,
    # Everything we materialize; the destinations are external assets their sync jobs report.
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("destinations"),
    tags=WAREHOUSE_TAG,
    description="Load new landing files and rebuild everything downstream of them.",
)

nightly_refresh = dg.ScheduleDefinition(
    name="nightly_refresh",
    job=okendo_refresh,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="02:00 UTC: load and rebuild; each destination's sensor then launches its sync.",
)
