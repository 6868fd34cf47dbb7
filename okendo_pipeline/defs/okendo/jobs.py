"""The nightly refresh job: what ``okendo-pipeline run`` and the schedule execute."""

import dagster as dg

REFRESH_JOB = "okendo_refresh"

okendo_refresh = dg.define_asset_job(
    REFRESH_JOB,
    selection=dg.AssetSelection.all(),
    description="Load new landing files and rebuild everything downstream of them.",
)
