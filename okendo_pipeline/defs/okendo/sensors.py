"""``okendo_landing_sensor``: a micro-batch (load, rebuild, sync) as soon as files are published.

The receiver (and the API extractor, and anyone copying files in) publishes whole files into
the landing folder, by creating or renaming them there. Each tick fingerprints the folders by
their modification time (it changes whenever a file is added) and how many envelope files they
list (two files added within one tick of the kernel's coarse clock leave the same time): a
directory listing, no ``stat`` per file, however many small files pile up (landing files never
change once written). A new fingerprint launches ``okendo_micro_batch`` once (its run_key) at
once, also while another run holds the warehouse: the new run starts up meanwhile and waits for
the warehouse (``warehouse.held``), so Dagster's start-up of several seconds is not paid between
batches. At most one run that loads waits like that: while one does, new files are its to load
(it has not listed the folder yet), so the tick only moves the cursor.

The order matters for that last rule: the folder is fingerprinted before the waiting run is
looked for. A run found waiting then lists the folder later, so it loads every file counted.
"""

import hashlib
import os
from pathlib import Path

import dagster as dg

from okendo_pipeline.defs.common.resources import LandingResource, WarehouseResource
from okendo_pipeline.defs.common.runs import IN_FLIGHT, WAREHOUSE_TAG
from okendo_pipeline.defs.okendo.jobs import MICRO_BATCH_JOB, REFRESH_JOB, micro_batch_job
from okendo_pipeline.lib import warehouse as warehouse_lock
from okendo_pipeline.lib.okendo.loader import LANDING_SUFFIXES

TICK_SECONDS = 2
LOADING_JOBS = (MICRO_BATCH_JOB, REFRESH_JOB)


def fingerprint(landing: Path) -> tuple[str, int]:
    """A digest of each landing folder's modification time and envelope-file count, and how
    many envelope files there are."""
    if not landing.is_dir():
        return "", 0
    digest = hashlib.sha256()
    total = 0
    with os.scandir(landing) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            with os.scandir(entry.path) as inside:
                count = sum(
                    1
                    for e in inside
                    if e.name.endswith(LANDING_SUFFIXES) and not e.name.startswith(".")
                )
            total += count
            digest.update(f"{entry.name}\0{entry.stat().st_mtime_ns}\0{count}\n".encode())
    return digest.hexdigest(), total


def waiting_loader(instance: dg.DagsterInstance, database: str) -> dg.DagsterRun | None:
    """An unfinished run that loads the landing folder and does not hold the warehouse (it is
    queued, starting, or waiting for the run that holds it), if there is one."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT, tags=WAREHOUSE_TAG))
    holding = warehouse_lock.holder(database)  # read after the runs: see the module's docstring
    return next((r for r in runs if r.job_name in LOADING_JOBS and r.run_id != holding), None)


def evaluate(
    context: dg.SensorEvaluationContext, landing: LandingResource, warehouse: WarehouseResource
) -> dg.SensorResult | dg.SkipReason:
    """One tick: a run request when the landing folder changed and no loading run waits."""
    digest, count = fingerprint(Path(landing.path))
    if not count:
        return dg.SkipReason(f"no envelope files in {landing.path} yet")
    if digest == context.cursor:
        return dg.SkipReason("no new landing files since the last launch")
    waiting = waiting_loader(context.instance, warehouse.database)
    if waiting is not None:
        return dg.SensorResult(
            skip_reason=f"run {waiting.run_id} ({waiting.job_name}) has not loaded yet; "
            "it takes the new files",
            cursor=digest,
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"landing:{digest[:20]}", tags={"okendo/files": str(count)})
        ],
        cursor=digest,
    )


def landing_sensor(job=None) -> dg.SensorDefinition:
    """The sensor, on the micro-batch job of the destinations that are on when it loads."""

    @dg.sensor(
        name="okendo_landing_sensor",
        job=job or micro_batch_job(),
        minimum_interval_seconds=TICK_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Launch the micro-batch (load, rebuild, sync) when new files are "
        "published in the landing folder.",
    )
    def okendo_landing_sensor(
        context: dg.SensorEvaluationContext,
        landing: LandingResource,
        warehouse: WarehouseResource,
    ) -> dg.SensorResult | dg.SkipReason:
        return evaluate(context, landing, warehouse)

    return okendo_landing_sensor


@dg.definitions
def defs() -> dg.Definitions:
    job = micro_batch_job()
    return dg.Definitions(jobs=[job], sensors=[landing_sensor(job)])
