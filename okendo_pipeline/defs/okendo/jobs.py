"""The refresh job and its nightly schedule, and the micro-batch the landing sensor launches.

``okendo_refresh`` loads new landing files and rebuilds everything downstream; each
destination's sensor then launches its sync. ``okendo_micro_batch`` does the same and syncs
every destination that is on in the same run, right after the marts: a webhook published in the
landing folder reaches the destinations without waiting for a second run to be launched.
"""

import dagster as dg

from okendo_pipeline import settings
from okendo_pipeline.defs.common.runs import SYNCED_TAG, WAREHOUSE_TAG
from okendo_pipeline.defs.okendo.checks import points_balance_reconciliation

REFRESH_JOB = "okendo_refresh"
MICRO_BATCH_JOB = "okendo_micro_batch"
DESTINATIONS = "destinations"

okendo_refresh = dg.define_asset_job(
    REFRESH_JOB,
    # Everything we materialize except the destinations, which their sync jobs materialize.
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(DESTINATIONS),
    tags=WAREHOUSE_TAG,
    description="Load new landing files and rebuild everything downstream of them.",
)


# Whole-warehouse checks the nightly refresh runs and a micro-batch leaves out: each reads every
# customer (about 1 s at 1,000,000) to judge a handful of changes.
NIGHTLY_CHECKS = (points_balance_reconciliation,)


def micro_batch_job():  # an unresolved asset job: resolved when the definitions load
    """Load, rebuild and sync the destinations that are on (every one in a dry run)."""
    on = settings.load().syncing()
    syncs = dg.AssetSelection.assets(*(dg.AssetKey(["destination", n]) for n in on))
    return dg.define_asset_job(
        MICRO_BATCH_JOB,
        selection=(dg.AssetSelection.all() - dg.AssetSelection.groups(DESTINATIONS) | syncs)
        - dg.AssetSelection.checks(*NIGHTLY_CHECKS),
        tags={**WAREHOUSE_TAG, SYNCED_TAG: ",".join(on)},
        description="Load new landing files, rebuild what they touched, sync what changed.",
    )


nightly_refresh = dg.ScheduleDefinition(
    name="nightly_refresh",
    job=okendo_refresh,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="02:00 UTC: load and rebuild; each destination's sensor then launches its sync.",
)
