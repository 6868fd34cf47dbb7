"""The production Dagster instance (deploy/dagster.yaml) on a real PostgreSQL cluster: a sensor
tick launches a sync run that completes, and schedule and sensor state survive restarts."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from okendo_pipeline_tests.postgres import postgres_cluster
from okendo_pipeline_tests.syncing import AS_OF, ITERABLE_KEY, scalar

REPO = Path(__file__).resolve().parents[1]
WORKSPACE = str(REPO / "workspace.yaml")


@pytest.fixture(scope="module")
def cluster():
    with postgres_cluster() as c:
        yield c


@pytest.fixture
def dagster_home(cluster, tmp_path, monkeypatch, built, fakes) -> dict[str, str]:
    """DAGSTER_HOME with the production dagster.yaml, and the settings every process shares."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    landing, db = built
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": cluster.url,
        "OKENDO_DUCKDB_PATH": db,
        "OKENDO_LANDING_DIR": str(landing),
        "OKENDO_AS_OF": AS_OF,
        "OKENDO_EVENTS_BACKFILL_START": "all",
        "ITERABLE_API_KEY": ITERABLE_KEY,
        "ITERABLE_BASE_URL": fakes["iterable"][1],
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("BRAZE_API_KEY", "OKENDO_DRY_RUN"):
        monkeypatch.delenv(key, raising=False)
    # A fresh schema per test: the cluster is shared by the module.
    with dg.DagsterInstance.get() as instance:
        instance.wipe()
        instance.wipe_all_schedules()
    return {**{k: v for k, v in os.environ.items() if k != "BRAZE_API_KEY"}, **env}


def dagster_cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "dagster", *args, "-w", WORKSPACE],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_instance_is_postgres(dagster_home):
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"


def test_sensor_tick_launches_a_sync_run_that_completes(dagster_home, fakes, tmp_path):
    from okendo_pipeline.definitions import defs

    env = dagster_home
    with dg.DagsterInstance.get() as instance:
        # What the nightly schedule runs: the refresh, recorded in PostgreSQL.
        refresh = defs().resolve_job_def("okendo_refresh").execute_in_process(instance=instance)
        assert refresh.success
    log = (tmp_path / "daemon.log").open("w")
    # This test is about the sync sensor: the daemon's landing folder is empty, so
    # okendo_landing_sensor has nothing to launch (test_landing_sensor covers it).
    (tmp_path / "empty-landing").mkdir()
    daemon = subprocess.Popen(
        [sys.executable, "-m", "dagster._daemon", "run", "-w", WORKSPACE],
        env={**env, "OKENDO_LANDING_DIR": str(tmp_path / "empty-landing")},
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        run = None
        while time.monotonic() < deadline:
            with dg.DagsterInstance.get() as instance:
                runs = instance.get_runs(filters=dg.RunsFilter(job_name="iterable_sync"))
                if runs and runs[0].is_finished:
                    run = runs[0]
                    break
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            time.sleep(2)
        assert run is not None, (tmp_path / "daemon.log").read_text()[-3000:]
    finally:
        daemon.terminate()
        daemon.wait(60)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags["dagster/sensor_name"] == "iterable_after_marts"
    assert run.tags["dagster/run_key"].startswith("iterable:")
    profiles = scalar(env["OKENDO_DUCKDB_PATH"], "select count(*) from marts.customer_profiles")
    assert len(fakes["iterable"][0].users) == profiles
    with dg.DagsterInstance.get() as instance:
        # One launch for one rebuild: no second iterable run, and no Braze run (no key).
        assert len(instance.get_runs(filters=dg.RunsFilter(job_name="iterable_sync"))) == 1
        assert not instance.get_runs(filters=dg.RunsFilter(job_name="braze_sync"))


def test_schedule_and_sensor_state_survive_restarts(dagster_home, cluster):
    env = dagster_home
    dagster_cli(env, "schedule", "stop", "nightly_refresh")
    dagster_cli(env, "sensor", "stop", "braze_after_marts")
    dagster_cli(env, "sensor", "cursor", "iterable_after_marts", "--set", '{"seen": 1}')
    cluster.restart()  # the database server too, not only the Dagster process
    script = (
        "import dagster as dg, json\n"
        "with dg.DagsterInstance.get() as i:\n"
        "    print(json.dumps({s.instigator_name: [s.status.value,"
        " getattr(s.instigator_data, 'cursor', None)] for s in i.all_instigator_state()}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    states = json.loads(out.stdout.strip().splitlines()[-1])
    assert states["nightly_refresh"][0] == "STOPPED"
    assert states["braze_after_marts"][0] == "STOPPED"
    assert states["iterable_after_marts"][1] == '{"seen": 1}'
