"""Which run is writing the warehouse: what the sync sensors ask before they launch another.

Runs tagged ``okendo/warehouse`` hold the warehouse from start to end (``warehouse.held``), so
two never interleave, on any instance. The sync sensors still stand down while one is in
flight (its data is about to change); the landing sensor lets one loading run wait for it.
"""

import dagster as dg

WAREHOUSE_TAG = {"okendo/warehouse": "write"}
# On a run that syncs destinations itself: their names, comma-separated.
SYNCED_TAG = "okendo/synced"
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def warehouse_writer(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    """A run that writes the warehouse and has not finished, if there is one."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT, tags=WAREHOUSE_TAG), limit=1)
    return runs[0] if runs else None
