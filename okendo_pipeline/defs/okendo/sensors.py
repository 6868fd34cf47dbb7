"""``okendo_landing_sensor``: a micro-batch (load, rebuild, sync) as soon as files are published.

The receiver (and the API extractor, and anyone copying files in) publishes whole files into
the landing folder, by creating or renaming them there. Each tick fingerprints the folders by
their modification time (it changes whenever a file is added) and how many envelope files they
list (two files added within one tick of the kernel's coarse clock leave the same time): a
directory listing, no ``stat`` per file, however many small files pile up (landing files never
change once written). A new fingerprint launches ``okendo_micro_batch`` once (its run_key), unless
a run writing the warehouse is still in flight: then the files wait for the next tick, and one
run takes all that arrived meanwhile.
"""

import hashlib
import os
from pathlib import Path

import dagster as dg

from okendo_pipeline.defs.common.resources import LandingResource
from okendo_pipeline.defs.common.runs import warehouse_writer
from okendo_pipeline.defs.okendo.jobs import micro_batch_job
from okendo_pipeline.lib.okendo.loader import LANDING_SUFFIXES

TICK_SECONDS = 5


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


def evaluate(
    context: dg.SensorEvaluationContext, landing: LandingResource
) -> dg.SensorResult | dg.SkipReason:
    """One tick: a run request when the landing folder changed and no writer is in flight."""
    digest, count = fingerprint(Path(landing.path))
    if not count:
        return dg.SkipReason(f"no envelope files in {landing.path} yet")
    if digest == context.cursor:
        return dg.SkipReason("no new landing files since the last launch")
    writer = warehouse_writer(context.instance)
    if writer is not None:
        return dg.SkipReason(
            f"run {writer.run_id} ({writer.job_name}) is writing the warehouse; "
            "the new files wait for it"
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
        context: dg.SensorEvaluationContext, landing: LandingResource
    ) -> dg.SensorResult | dg.SkipReason:
        return evaluate(context, landing)

    return okendo_landing_sensor


@dg.definitions
def defs() -> dg.Definitions:
    job = micro_batch_job()
    return dg.Definitions(jobs=[job], sensors=[landing_sensor(job)])
