"""``okendo_landing_sensor``: published files launch the micro-batch, once, also while a run
holds the warehouse (the new one waits for it), but never beside a loading run that is still
waiting; through the real daemon on Dagster's embedded storage."""

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
from dagster._core.test_utils import create_run_for_test

from okendo_pipeline.defs.common.resources import LandingResource, WarehouseResource
from okendo_pipeline.defs.common.runs import WAREHOUSE_TAG
from okendo_pipeline.defs.okendo.sensors import landing_sensor
from okendo_pipeline.lib import warehouse
from okendo_pipeline.lib.okendo.generator.generate import generate
from okendo_pipeline_tests.samples import envelope, write_landing

REPO = Path(__file__).resolve().parents[1]


def tick(instance, landing: Path, cursor: str | None = None):
    resources = {
        "landing": LandingResource(path=str(landing)),
        "warehouse": WarehouseResource(database=str(landing.parent / "w.duckdb")),
    }
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return landing_sensor()(context)


def test_new_files_launch_once_and_one_loading_run_waits_at_most(landing: Path) -> None:
    database = str(landing.parent / "w.duckdb")
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
        # Started, not holding the warehouse yet: it lists the folder later and takes b.jsonl.
        waiting = tick(instance, landing, cursor=first.cursor)
        assert not waiting.run_requests
        reason = waiting.skip_reason.skip_message
        assert f"run {writer.run_id} (okendo_refresh) has not loaded yet" in reason
        assert waiting.cursor != first.cursor  # b.jsonl is that run's: no second launch for it
        assert tick(instance, landing, cursor=waiting.cursor).skip_message.startswith("no new")

        # Holding it (loading or later): new files launch the next run, to wait meanwhile.
        write_landing(landing, "review", "c.jsonl", [envelope("review", 3, "update")])
        with warehouse.held(database, writer.run_id):
            second = tick(instance, landing, cursor=waiting.cursor)
        assert second.run_requests[0].run_key != request.run_key
        # A sync that waits for the warehouse loads nothing: it does not stop a launch.
        instance.report_run_canceled(writer)
        sync = create_run_for_test(
            instance, job_name="okendo_sync_braze", tags=WAREHOUSE_TAG,
            status=dg.DagsterRunStatus.STARTED,
        )  # fmt: skip
        assert tick(instance, landing, cursor=waiting.cursor).run_requests
        instance.report_run_canceled(sync)


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
        steps = sorted(
            [
                e.timestamp
                for e in instance.all_logs(r.run_id)
                if e.dagster_event
                and e.dagster_event.event_type_value in ("STEP_START", "STEP_SUCCESS")
            ]
            for r in runs
        )
    assert steps[0][-1] <= steps[1][0]  # the second's steps began after the first's had ended
    with duckdb.connect(str(database), read_only=True) as conn:
        assert conn.execute(
            "select count(*) from marts.customer_events where event_id = 'review-created:late'"
        ).fetchone() == (1,)


def test_a_run_waits_for_the_run_holding_the_warehouse(tmp_path: Path) -> None:
    """A run started while another holds the warehouse waits, whole, and then runs: nothing
    of it touches the file meanwhile. A job run in process by the holder does not wait for
    itself."""
    landing, database = tmp_path / "landing", tmp_path / "w.duckdb"
    generate(landing, 20, seed=3, as_of=date(2026, 6, 1))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ITERABLE_", "BRAZE_"))}
    env["PYTHONPATH"] = str(REPO)
    with warehouse.held(str(database), "holder-run"):
        waiter = subprocess.Popen(
            [sys.executable, "-m", "okendo_pipeline.cli", "run", "--landing", str(landing),
             "--database", str(database), "--as-of", "2026-06-01"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        time.sleep(12)  # long enough for it to have loaded, were it not waiting
        assert waiter.poll() is None and not database.exists()
        assert warehouse.holder(str(database)) == "holder-run"
        with warehouse.held(str(database), "the same process"):  # re-entrant
            assert warehouse.holder(str(database)) == "holder-run"
    output, _ = waiter.communicate(timeout=600)
    assert waiter.returncode == 0, output[-3000:]
    assert warehouse.holder(str(database)) not in (None, "holder-run")  # the waiter's run id
    with duckdb.connect(str(database), read_only=True) as conn:
        assert conn.execute("select count(*) from marts.customer_profiles").fetchone()[0] > 0
