"""The analysts' database (``OKENDO_ANALYTICS_PATH``), published after every warehouse run.

The asset sits below the marts, the rejected records and every destination, so it is the last
step of the refresh, the micro-batch and each sync job. A step skipped below a failed or dry-run
sync leaves the last published file in place; ``okendo-pipeline run`` always ends with
``okendo_publish``, and the next run of any kind publishes what changed.
"""

import dagster as dg

from okendo_pipeline import settings
from okendo_pipeline.defs.common.resources import WarehouseResource
from okendo_pipeline.defs.common.runs import WAREHOUSE_TAG
from okendo_pipeline.lib import analytics

ANALYTICS = dg.AssetKey(["analytics", "okendo_analytics"])
PUBLISH_JOB = "okendo_publish"
UPSTREAM = [
    dg.AssetKey(["marts", "customer_profiles"]),
    dg.AssetKey(["marts", "customer_events"]),
    dg.AssetKey(["marts", "customer_profile_attributes"]),
    dg.AssetKey(["raw", "rejected_records"]),
]


def published_asset() -> dg.AssetsDefinition:
    destinations = [dg.AssetKey(["destination", n]) for n in settings.Settings.destinations()]

    @dg.asset(
        key=ANALYTICS,
        deps=[*UPSTREAM, *destinations],
        group_name="analytics",
        kinds={"duckdb"},
        description="What analysts query: the marts, the rejected records and the sync "
        "history, written from the warehouse into a new file (a copy of the last one with "
        "what changed since, when that is known) renamed over the last one, so an open "
        "session never blocks a run and never sees half a file. Skipped when unchanged.",
    )
    def okendo_analytics(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        with warehouse.connect() as conn:
            done = analytics.publish(conn, warehouse.analytics_path())
        context.log.info(f"analytics: {'unchanged' if done.skipped else 'published'} {done.path}")
        return dg.MaterializeResult(
            metadata={
                "path": done.path,
                "tables": done.tables,
                "rows": done.rows,
                "mode": done.mode,
                "skipped_unchanged": done.skipped,
                "seconds": round(done.seconds, 2),
            }
        )

    return okendo_analytics


@dg.definitions
def defs() -> dg.Definitions:
    # The refresh, the micro-batch and each sync job publish as their last step; this job
    # publishes alone (the command line's last step, or by hand after a failed sync).
    publish = dg.define_asset_job(
        PUBLISH_JOB,
        selection=[ANALYTICS],
        tags=WAREHOUSE_TAG,
        description="Publish the analysts' database from the warehouse.",
    )
    return dg.Definitions(assets=[published_asset()], jobs=[publish])
