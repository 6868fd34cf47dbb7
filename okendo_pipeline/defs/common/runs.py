"""Which run is writing the warehouse: what every sensor asks before it launches another.

The production instance's run queue allows one run tagged ``okendo/warehouse`` at a time; on
Dagster's embedded storage there is no queue, so the sensors themselves wait while one is in
flight (and ``warehouse.connect`` waits for the DuckDB lock if two still meet).
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
