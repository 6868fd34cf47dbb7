"""Alerts on the runs the daemon sees: a failed run, and the next success of that job.

The command line reports its own runs the same way (``pipeline.run``); when both see one run,
the shared state (``lib/alerts.py``) lets only the first say it. The rejection and load alerts
come from the steps that know the numbers.
"""

import dagster as dg

from okendo_pipeline import settings
from okendo_pipeline.lib import alerts


def observe_run(job: str, run_id: str, ok: bool, reason: str, database: str | None = None) -> None:
    """The job's alert state after one of its runs (beside ``database``, default the
    settings' warehouse)."""
    s = settings.load()
    detail = f"run {run_id} succeeded" if ok else f"run {run_id} failed: {reason}"
    alerts.observe(s.alerts(), database or str(s.duckdb_path), f"job {job}", not ok, detail)


@dg.run_failure_sensor(
    name="okendo_alert_on_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
    description="Alert (OKENDO_ALERT_WEBHOOK_URL) when a run fails, once until it recovers.",
)
def alert_on_failure(context: dg.RunFailureSensorContext) -> None:
    message = context.failure_event.message or "failed"
    observe_run(context.dagster_run.job_name, context.dagster_run.run_id, False, message)


@dg.run_status_sensor(
    name="okendo_alert_on_recovery",
    run_status=dg.DagsterRunStatus.SUCCESS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
    description="Alert once when a job that was failing succeeds again.",
)
def alert_on_recovery(context: dg.RunStatusSensorContext) -> None:
    observe_run(context.dagster_run.job_name, context.dagster_run.run_id, True, "")


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[alert_on_failure, alert_on_recovery])
