"""Running the refresh job the way the schedule and the command line do, and the dbt CLI the
way the pipeline calls it, for tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import pytest


def run_refresh(
    landing: Path,
    database: Path | str,
    as_of: str | None = None,
    *,
    full_refresh: bool = False,
    models: Sequence[str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Point the settings at ``landing`` and ``database`` and run ``okendo_refresh`` in process
    (``full_refresh``: as ``run --full-refresh`` does; ``models``: the load and only these
    dbt assets, ``schema/name``, as a selection materialized from the UI)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OKENDO_LANDING_DIR", str(landing))
        mp.setenv("OKENDO_DUCKDB_PATH", str(database))
        if as_of:
            mp.setenv("OKENDO_AS_OF", as_of)
        from okendo_pipeline import settings
        from okendo_pipeline.definitions import defs
        from okendo_pipeline.pipeline import config_of

        settings.load.cache_clear()
        definitions = defs()
        job = definitions.resolve_job_def("okendo_refresh")
        settings.load.cache_clear()
        run_config = {}
        if full_refresh:
            resource = definitions.resources["run_settings"]
            run_config = {"resources": {"run_settings": config_of(resource, full_refresh=True)}}
        selection = None
        if models is not None:
            dbt_keys = {dg.AssetKey(m.split("/")) for m in models}
            selection = [
                key
                for key in job.asset_layer.executable_asset_keys
                if key in dbt_keys or key.path[0] in ("raw", "landing")
            ]
        with dg.instance_for_test() as instance:
            return job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_config=run_config,
                asset_selection=selection,
            )


def land_another_review(landing: Path, database: str, review_id: str, **changes: object) -> None:
    """Publish one more review: a copy of the warehouse's first with a new id (and ``changes``),
    in its own landing file, so the next load touches exactly its customer."""
    import json

    import duckdb

    with duckdb.connect(database, read_only=True) as conn:
        review = json.loads(conn.execute(
            "select resource from raw.current_resources where resource_type = 'review' "
            "order by resource_id limit 1"
        ).fetchone()[0])  # fmt: skip
    review |= {"reviewId": review_id, **changes}
    line = {"resourceType": "review", "topic": "create", "sequenceNumber": "9" * 12,
            "version": "2025-02-01", "resource": review}  # fmt: skip
    (landing / "review" / f"{review_id}.jsonl").write_text(json.dumps(line) + "\n")


def dbt_workers(parent: int) -> list[int]:
    """``parent``'s dbt worker processes (``lib/dbt_worker.py``), from ``/proc``; not its other
    children (a database server, a browser)."""
    from okendo_pipeline.lib.dbt_worker import MODULE

    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
            if ppid == parent and MODULE.encode() in command:
                children.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
    return children


def running(pid: int) -> bool:
    """``pid`` is a live process: one of its threads has not ended. Not a zombie left for a
    parent to reap (a killed run's children go to init, which in a container may never reap
    them); but a killed process whose first thread is a zombie while others still exit is live:
    it still holds its files, and their locks."""
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                return True
        except (OSError, IndexError):
            continue  # ended meanwhile
    return False


def stop_group(process) -> None:
    """Interrupt a process started with ``start_new_session`` and its children; kill them if
    they have not ended within a minute."""
    import os
    import signal
    import subprocess

    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def run_command(folder: Path, *args: str, env: dict[str, str]):
    """``okendo-pipeline run`` on ``folder``'s ``landing`` and ``w.duckdb`` in a new process,
    with the environment's destination settings replaced by ``env``."""
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith(("ITERABLE_", "BRAZE_"))}
    base["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # this checkout's code
    return subprocess.run(
        [sys.executable, "-m", "okendo_pipeline.cli", "run", "--landing", str(folder / "landing"),
         "--database", str(folder / "w.duckdb"), *args],
        env=base | env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def dbt_cli(
    warehouse: object, target: Path, *args: str, check: bool = True, as_of: str | None = None
) -> str:
    """``dbt <args>`` in the project, with the vars the pipeline passes for ``warehouse`` (a
    ``WarehouseResource``) and ``as_of`` (else today), and its own target folder; its standard
    output (``check``: raise when dbt fails)."""
    import json
    import subprocess

    from okendo_pipeline.defs.common.resources import RunSettingsResource
    from okendo_pipeline.lib.dbt_project import dbt_project

    return subprocess.run(
        ["dbt", *args, "--vars", json.dumps(RunSettingsResource(as_of=as_of).dbt_vars(warehouse)),
         "--target-path", str(target)],
        cwd=dbt_project.project_dir, capture_output=True, text=True, check=check,
    ).stdout  # fmt: skip
