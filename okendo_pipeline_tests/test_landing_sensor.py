"""``okendo_landing_sensor``: published files launch the refresh, once, never beside another
run that writes the warehouse; through the real daemon on Dagster's embedded storage."""

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
from dagster._core.test_utils import create_run_for_test

from okendo_pipeline.defs.common.resources import LandingResource
from okendo_pipeline.defs.common.runs import WAREHOUSE_TAG
from okendo_pipeline.defs.okendo.sensors import landing_sensor
from okendo_pipeline.lib.okendo.generator.generate import generate
from okendo_pipeline_tests.samples import envelope, write_landing

REPO = Path(__file__).resolve().parents[1]


def tick(instance, landing: Path, cursor: str | None = None):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"landing": LandingResource(path=str(landing))}
    )
    return landing_sensor()(context)


def test_new_files_launch_once_and_wait_for_a_writer(landing: Path) -> None:
    with dg.instance_for_test() as instance:
        assert "no envelope files" in tick(instance, landing).skip_message
        write_landing(landing, "review", "a.jsonl", [envelope("review", 1)])
        first = tick(instance, landing)
        [request] = first.run_requests
        assert request.run_key.startswith("landing:")
        assert tick(instance, landing).run_requests[0].run_key == request.run_key  # deterministic
        unchanged = tick(instance, landing, cursor=first.cursor)
        assert unchanged.skip_message == "no new landing files since the last launch"

        write_landing(landing, "review", "b.jsonl", [envelope("review", 2, "update")])
        writer = create_run_for_test(
            instance, job_name="okendo_refresh", tags=WAREHOUSE_TAG,
            status=dg.DagsterRunStatus.STARTED,
        )  # fmt: skip
        busy = tick(instance, landing, cursor=first.cursor)
        assert f"run {writer.run_id} (okendo_refresh) is writing the warehouse" in busy.skip_message
        instance.report_run_canceled(writer)
        second = tick(instance, landing, cursor=first.cursor)
        assert second.run_requests[0].run_key != request.run_key


def test_the_daemon_runs_a_micro_batch_when_files_are_published(tmp_path: Path) -> None:
    """``dagster-daemon run -w workspace.yaml``, no dagster.yaml: the embedded storage."""
    home, landing, database = tmp_path / "home", tmp_path / "landing", tmp_path / "w.duckdb"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OKENDO_", "ITERABLE_", "BRAZE_", "DAGSTER_"))
    }
    env |= {
        "DAGSTER_HOME": str(home),
        "OKENDO_LANDING_DIR": str(landing),
        "OKENDO_DUCKDB_PATH": str(database),
        "OKENDO_AS_OF": "2026-06-01",
        "OKENDO_ANALYTICS_PATH": str(tmp_path / "analytics.duckdb"),
    }
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "dagster._daemon", "run", "-w", str(REPO / "workspace.yaml")],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def finished_refreshes(count: int) -> list[dg.DagsterRun]:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            with dg.DagsterInstance.from_config(str(home)) as instance:
                runs = instance.get_runs(filters=dg.RunsFilter(job_name="okendo_micro_batch"))
                if len(runs) >= count and all(r.is_finished for r in runs):
                    return runs
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            time.sleep(1)
        raise AssertionError((tmp_path / "daemon.log").read_text()[-3000:])

    try:
        # The whole folder appears at once (a rename), as the receiver publishes each file.
        generate(tmp_path / "generated", 30, seed=3, as_of=date(2026, 6, 1))
        (tmp_path / "generated").rename(landing)
        assert len(finished_refreshes(1)) == 1
        write_landing(
            landing, "review", "late.jsonl", [envelope("review", 999_999, reviewId="late")]
        )
        runs = finished_refreshes(2)
    finally:
        daemon.terminate()
        daemon.wait(60)
    assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    assert all(r.tags["dagster/sensor_name"] == "okendo_landing_sensor" for r in runs)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        stats = sorted(
            (instance.get_run_stats(r.run_id).start_time, instance.get_run_stats(r.run_id).end_time)
            for r in runs
        )
    assert stats[0][1] <= stats[1][0]  # the second started after the first had finished
    with duckdb.connect(str(database), read_only=True) as conn:
        assert conn.execute(
            "select count(*) from marts.customer_events where event_id = 'review-created:late'"
        ).fetchone() == (1,)
