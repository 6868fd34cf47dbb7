"""The Dagster definitions load, and the refresh job materializes the raw tables."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from okendo_pipeline_tests.samples import envelope, write_landing


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, landing: Path, warehouse_path: str) -> None:
    monkeypatch.setenv("OKENDO_LANDING_DIR", str(landing))
    monkeypatch.setenv("OKENDO_DUCKDB_PATH", warehouse_path)


def load():
    from okendo_pipeline import settings
    from okendo_pipeline.definitions import defs

    settings.load.cache_clear()  # the test may have changed the environment since
    return defs()


def test_definitions_load(settings) -> None:
    definitions = load()
    repo = definitions.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {
        "raw/envelopes",
        "raw/current_resources",
        "raw/rejected_records",
        "raw/loaded_files",
    } <= keys
    assert "okendo_refresh" in repo.job_names
    # lineage: the dbt staging models hang off the ingestion asset; dbt tests are asset checks
    reviews = repo.asset_graph.get(dg.AssetKey(["staging", "stg_okendo__reviews"]))
    assert reviews.parent_keys == {dg.AssetKey(["raw", "current_resources"])}
    checks = {k.name for k in repo.asset_graph.asset_check_keys}
    assert "rejected_share" in checks and "unique_stg_okendo__reviews_review_id" in checks
    assert definitions.get_job_def("okendo_refresh").executor_def.name == "in_process"
    # The whole-warehouse reconciliation runs with the refresh, not in every micro-batch.
    reconciliation = "marts__customer_profiles_points_balance_reconciliation"
    assert reconciliation in definitions.resolve_job_def("okendo_refresh").graph.node_names()
    micro_batch = definitions.resolve_job_def("okendo_micro_batch").graph.node_names()
    assert "okendo_dbt_models" in micro_batch and reconciliation not in micro_batch


def test_the_dbt_build_lets_go_of_the_warehouse(
    settings, landing: Path, warehouse_path: str
) -> None:
    """dbt builds in the run's own process (dbt's Python API, not a ``dbt`` process per build),
    and dbt-duckdb keeps its database open for the life of the process: the resource closes it
    after each build, so right after the run another process can write the file."""
    import subprocess
    import sys

    write_landing(landing, "review", "a.jsonl", [envelope("review", 1)])
    with dg.instance_for_test() as instance:
        result = load().resolve_job_def("okendo_refresh").execute_in_process(instance=instance)
    assert result.success
    writer = subprocess.run(
        [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).execute("
         "'create table raw.written_after_the_build as select 1 as x')", warehouse_path],
        capture_output=True, text=True,
    )  # fmt: skip
    assert writer.returncode == 0, writer.stderr


def test_a_dbt_build_that_cannot_start_fails_with_dbt_s_reason(tmp_path: Path) -> None:
    """When dbt stops before any node (here a profile naming an adapter that is not
    installed), no node event ever comes: the build still ends, with dbt's reason."""
    from okendo_pipeline.defs.dbt.resources import DbtBuildError, OkendoDbtResource
    from okendo_pipeline.lib.dbt_project import dbt_project

    (tmp_path / "profiles.yml").write_text(
        "okendo:\n  target: local\n  outputs:\n    local:\n      type: nosuchadapter\n"
    )
    resource = OkendoDbtResource(project_dir=dbt_project.project_dir, profiles_dir=str(tmp_path))
    build = resource.build(
        ["build"], context=dg.build_asset_context(), target_path=tmp_path / "target"
    )
    with pytest.raises(DbtBuildError, match=r"^dbt build failed:\n(?s:.*)nosuchadapter"):
        list(build)


def test_a_dbt_process_that_dies_ends_the_build_with_its_exit_code(tmp_path: Path) -> None:
    """dbt builds in a worker process; killed before it reports (as the kernel's OOM killer
    would), the build ends, saying so, instead of waiting for events that never come."""
    import contextlib
    import os
    import signal
    import threading
    import time

    from okendo_pipeline.lib.dbt_project import dbt_project
    from okendo_pipeline.lib.dbt_worker import build
    from okendo_pipeline_tests.runs import dbt_workers

    argv = [
        "parse", "--no-partial-parse", "--quiet",  # a full parse: seconds, and no node events
        *("--project-dir", str(dbt_project.project_dir)),
        *("--profiles-dir", str(dbt_project.project_dir)),
        *("--target-path", str(tmp_path), "--log-path", str(tmp_path)),
    ]  # fmt: skip
    killed: list[int] = []

    def kill_the_child() -> None:
        deadline = time.monotonic() + 30
        while not killed and time.monotonic() < deadline:
            time.sleep(0.3)
            for pid in dbt_workers(os.getpid()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)

    killer = threading.Thread(target=kill_the_child)
    killer.start()
    try:
        messages = list(build(argv, False, tmp_path))
    finally:
        killer.join()
    assert killed
    assert messages == [("done", "dbt's process ended (exit code -9) before it finished")]


def test_the_run_starts_dbt_s_worker_and_ends_it_when_no_build_takes_it(
    settings, landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dbt resource starts its worker process as the run starts (dbt imports meanwhile).
    A run that ends without building (here its load fails: the warehouse path is a folder)
    ends the worker too, instead of leaving it to wait for a command."""
    import os
    import re

    from okendo_pipeline_tests.runs import dbt_workers, running

    monkeypatch.setenv("OKENDO_DUCKDB_PATH", str(tmp_path))
    write_landing(landing, "review", "a.jsonl", [envelope("review", 1)])
    with dg.instance_for_test() as instance:
        job = load().resolve_job_def("okendo_refresh")
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert not result.success
    started = [m for m in logs if m.startswith("dbt's worker process started")]
    assert len(started) == 1, logs
    pid = int(re.search(r"pid (\d+)", started[0]).group(1))
    assert not running(pid) and dbt_workers(os.getpid()) == []


def test_a_worker_started_ahead_is_taken_unless_it_has_ended() -> None:
    """``okendo-pipeline run`` starts dbt's worker before it imports Dagster; the run's dbt
    resource takes that worker while it still waits, and starts another when it has ended
    (killed meanwhile: a build must not be sent to a process that is gone)."""
    import os
    import signal
    import time

    from okendo_pipeline.lib import dbt_worker
    from okendo_pipeline_tests.runs import dbt_workers, running

    dbt_worker.prestart()
    (ahead,) = dbt_workers(os.getpid())
    taken = dbt_worker.take()
    assert taken.process.pid == ahead
    taken.close()

    dbt_worker.prestart()
    (ahead,) = dbt_workers(os.getpid())
    os.kill(ahead, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while running(ahead) and time.monotonic() < deadline:
        time.sleep(0.05)
    taken = dbt_worker.take()
    try:
        assert taken.process.pid != ahead and taken.process.poll() is None
        assert dbt_workers(os.getpid()) == [taken.process.pid]
    finally:
        taken.close()
    assert dbt_workers(os.getpid()) == []


def _seed_argv(tmp_path: Path, database: Path) -> list[str]:
    """``dbt seed`` into ``database``: a command that opens the warehouse once its run starts."""
    import json

    from okendo_pipeline.lib.dbt_project import dbt_project

    return [
        "seed", "--vars", json.dumps({"duckdb_path": str(database)}),
        *("--project-dir", str(dbt_project.project_dir)),
        *("--profiles-dir", str(dbt_project.project_dir)),
        *("--target-path", str(tmp_path), "--log-path", str(tmp_path)),
    ]  # fmt: skip


def _wait_for_dbt_s_run(log: Path) -> None:
    """Until dbt's log shows its run starting ("Concurrency: ..."): the point past which dbt
    would open the warehouse."""
    import time

    deadline = time.monotonic() + 60
    while "Concurrency:" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "dbt never reached its run"
        time.sleep(0.1)


def test_dbt_opens_the_warehouse_only_once_the_step_s_own_work_is_done(tmp_path: Path) -> None:
    """The step works on the warehouse while dbt starts (a micro-batch copies its scope then).
    DuckDB lets one process write a file: dbt, had it opened the file meanwhile, would fail on
    the lock. Here the step's work holds the file until dbt has reached the point where it
    opens it, and a second longer; dbt waits, then loads the seed."""
    import time

    from okendo_pipeline.lib.dbt_worker import build

    database = tmp_path / "w.duckdb"
    log = tmp_path / "dbt.log"

    def hold_the_warehouse() -> None:
        with duckdb.connect(str(database)) as conn:
            conn.execute("create table step_work as select 1 as done")
            _wait_for_dbt_s_run(log)
            time.sleep(1)

    messages = list(build(_seed_argv(tmp_path, database), False, tmp_path, hold_the_warehouse))
    assert messages[-1] == ("done", None), messages
    assert [v["info"]["name"] for k, v in messages if k == "event"] == ["LogSeedResult"]
    with duckdb.connect(str(database), read_only=True) as conn:
        assert conn.execute("select done from step_work").fetchall() == [(1,)]
        assert conn.execute("select count(*) from reference.event_catalogue").fetchone()[0] > 0


def test_a_step_s_work_that_fails_stops_dbt_before_it_opens_the_warehouse(tmp_path: Path) -> None:
    """When the step's own work fails, its error ends the build, and dbt, still waiting to
    open the warehouse, is killed: no process is left to write the file."""
    import os

    from okendo_pipeline.lib.dbt_worker import build
    from okendo_pipeline_tests.runs import dbt_workers

    database = tmp_path / "w.duckdb"
    log = tmp_path / "dbt.log"

    def fail_once_dbt_waits() -> None:
        _wait_for_dbt_s_run(log)
        raise RuntimeError("the scope could not be copied")

    with pytest.raises(RuntimeError, match="the scope could not be copied"):
        list(build(_seed_argv(tmp_path, database), False, tmp_path, fail_once_dbt_waits))
    assert dbt_workers(os.getpid()) == []
    assert not database.exists()  # dbt never opened (and so never created) the file


def test_dbt_gets_the_warehouse_memory_bound(settings, warehouse_path: str) -> None:
    """dbt's DuckDB connection is bounded like the pipeline's: without it a full build of
    1,000,000 customers took 10.5 GB. The bound reaches dbt as a var its profile reads."""
    import json

    from okendo_pipeline.defs.common.resources import WarehouseResource
    from okendo_pipeline_tests.runs import dbt_cli

    warehouse = WarehouseResource(database=warehouse_path, memory_limit="1GB")
    Path(warehouse_path).parent.mkdir(parents=True, exist_ok=True)
    shown = dbt_cli(
        warehouse, Path(warehouse_path).parent / "dbt",
        "show", "--quiet", "--output", "json",
        "--inline", "select current_setting('memory_limit') as memory_limit",
    )  # fmt: skip
    with duckdb.connect() as plain:
        plain.execute("set memory_limit = '1GB'")
        expected = plain.execute("select current_setting('memory_limit')").fetchone()[0]
        plain.execute("reset memory_limit")
        default = plain.execute("select current_setting('memory_limit')").fetchone()[0]
    assert json.loads(shown)["show"] == [{"memory_limit": expected}]
    assert expected != default


def test_refresh_job_loads_and_reports(settings, landing: Path, warehouse_path: str) -> None:
    write_landing(landing, "review", "a.jsonl", [envelope("review", 1), "{bad"])
    job = load().resolve_job_def("okendo_refresh")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance)
        assert result.success
        meta = {
            e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()
        }
        assert meta["raw/envelopes"]["envelopes_new"].value == 1
        assert meta["raw/rejected_records"]["rejected"].value == 1
        assert meta["raw/loaded_files"]["files_loaded"].value == 1
        checks = result.get_asset_check_evaluations()
        verdicts = {c.check_name: c.passed for c in checks}
        assert verdicts.pop("rejected_share") is False  # 1 of 2 lines rejected
        assert len(verdicts) > 30 and all(verdicts.values())  # every dbt test passed
        again = job.execute_in_process(instance=instance)
        assert again.success
    conn = duckdb.connect(warehouse_path, read_only=True)
    assert conn.execute("select count(*) from raw.envelopes").fetchone() == (1,)
    assert conn.execute("select count(*) from raw.loads").fetchone() == (2,)


def test_destination_resources_follow_the_environment(settings, monkeypatch) -> None:
    monkeypatch.delenv("ITERABLE_API_KEY", raising=False)
    monkeypatch.delenv("BRAZE_API_KEY", raising=False)
    resources = load().resources
    assert not resources["iterable"].enabled and not resources["braze"].enabled

    monkeypatch.setenv("ITERABLE_API_KEY", "it-secret-123")
    monkeypatch.setenv("ITERABLE_BASE_URL", "https://api.eu.iterable.com")
    monkeypatch.setenv("ITERABLE_IDENTIFIER", "userId")
    monkeypatch.setenv("BRAZE_API_KEY", "bz-secret-456")
    monkeypatch.setenv("BRAZE_REST_ENDPOINT", "rest.fra-01.braze.eu")
    monkeypatch.setenv("BRAZE_EXTERNAL_ID", "shopify_customer_id")
    resources = load().resources
    iterable, braze = resources["iterable"], resources["braze"]
    assert iterable.settings().base_url == "https://api.eu.iterable.com"
    assert iterable.settings().identifier == "userId"
    assert braze.settings().external_id == "shopify_customer_id"
    # The key reaches the resource as an EnvVar, resolved at run time, never as its value.
    assert isinstance(iterable.api_key, dg.EnvVar) and isinstance(braze.api_key, dg.EnvVar)
    assert "it-secret-123" not in repr(resources) and "bz-secret-456" not in repr(resources)


def test_bad_destination_setting_names_the_variable(settings, monkeypatch) -> None:
    monkeypatch.setenv("ITERABLE_IDENTIFIER", "phone")
    with pytest.raises(Exception) as err:
        load()
    # Dagster wraps it (ComponentTreeException, naming the file); the cause names the variable.
    chain, exc = [], err.value
    while exc is not None:
        chain.append(str(exc))
        exc = exc.__cause__
    assert any(
        "ITERABLE_IDENTIFIER='phone': Input should be 'email' or 'userId'" in m for m in chain
    )
