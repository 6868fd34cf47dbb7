"""The console script end to end, as a user runs it: generate, run, status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb

from okendo_pipeline_tests.runs import stop_group

REPO = Path(__file__).resolve().parents[1]


def cli(
    *args: str, env: dict | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OKENDO_", "DAGSTER_HOME", "ITERABLE_", "BRAZE_"))
        # In the checkout's folder, the test's analytics file and instance, not the checkout's.
        or (k in ("OKENDO_ANALYTICS_PATH", "DAGSTER_HOME") and cwd is None)
    }
    full_env["PYTHONPATH"] = str(REPO)  # this checkout's code, from whatever folder
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "okendo_pipeline.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
        cwd=cwd,
    )


def test_generate_run_status(tmp_path: Path) -> None:
    landing, database = tmp_path / "landing", tmp_path / "okendo.duckdb"
    gen = cli(
        "generate",
        "--out",
        str(landing),
        "--customers",
        "60",
        "--seed",
        "1",
        "--as-of",
        "2026-06-01",
    )
    assert gen.returncode == 0, gen.stderr
    assert "wrote" in gen.stdout and (landing / "review").is_dir()

    run = cli(
        "run", "--landing", str(landing), "--database", str(database), "--as-of", "2026-06-01"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "leaked semaphore" not in run.stderr  # dbt's worker ends cleanly, if quickly
    # One line per step, then the final status; dbt's per-node lines only with --verbose.
    assert run.stdout.splitlines()[-1] == "succeeded"
    assert "new envelopes" in run.stdout and "models: 27 built, 1 seed loaded" in run.stdout
    assert "stg_okendo__reviews" not in run.stdout and "Execution Duration" not in run.stdout
    conn = duckdb.connect(str(database), read_only=True)
    envelopes = conn.execute("select count(*) from raw.envelopes").fetchone()[0]
    # the dbt staging layer was built from the same load
    reviews = conn.execute(
        "select (select count(*) from staging.stg_okendo__reviews), "
        "(select count(*) from raw.current_resources where resource_type = 'review')"
    ).fetchone()
    profiles, events = conn.execute(
        "select (select count(*) from marts.customer_profiles), "
        "(select count(*) from marts.customer_events)"
    ).fetchone()
    conn.close()
    assert envelopes > 300
    assert reviews[0] == reviews[1] > 0
    assert profiles >= 60 and events > profiles

    assert "(full: the models were never built)" in run.stdout
    same = ("--landing", str(landing), "--database", str(database), "--as-of", "2026-06-01")
    again = cli("run", *same)
    assert again.returncode == 0 and " 0 new envelopes" in again.stdout
    assert "(incremental: 0 touched customers)" in again.stdout
    forced = cli("run", *same, "--full-refresh", "--verbose")
    assert forced.returncode == 0 and "(full: asked for (--full-refresh))" in forced.stdout
    assert "OK created sql view model staging.stg_okendo__reviews" in forced.stdout  # dbt's own

    status = cli("status", "--database", str(database))
    assert status.returncode == 0, status.stderr
    assert f"{envelopes:,} envelopes" in status.stdout


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    landing, database = tmp_path / "l", tmp_path / "w.duckdb"
    cli("generate", "--out", str(landing), "--customers", "5", "--as-of", "2026-06-01")
    run = cli("run", env={"OKENDO_LANDING_DIR": str(landing), "OKENDO_DUCKDB_PATH": str(database)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert database.exists()


def test_clear_errors(tmp_path: Path) -> None:
    missing = cli(
        "run", "--landing", str(tmp_path / "nope"), "--database", str(tmp_path / "w.duckdb")
    )
    assert missing.returncode == 2 and "landing folder" in missing.stderr
    bad_date = cli("generate", "--out", str(tmp_path), "--customers", "5", "--as-of", "June 1")
    assert bad_date.returncode == 2 and "is not an ISO date" in bad_date.stderr
    no_db = cli("status", "--database", str(tmp_path / "none.duckdb"))
    assert no_db.returncode == 2 and "does not exist" in no_db.stderr


def test_readme_quickstart_defaults_to_the_working_folder(tmp_path: Path) -> None:
    """The README's first command: default paths relative to where it runs, a dry run, no keys."""
    gen = cli("generate", "--out", "data/landing", "--customers", "40", cwd=tmp_path)
    assert gen.returncode == 0, gen.stderr
    run = cli("run", "--dry-run", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "iterable (dry run): would send" in run.stdout
    assert "braze (dry run): would send" in run.stdout
    database = tmp_path / "data" / "okendo.duckdb"
    with duckdb.connect(str(database), read_only=True) as conn:
        acknowledged = conn.execute("select count(*) from sync.profile_state").fetchone()[0]
    assert acknowledged == 0
    shown = cli("payloads", "--destination", "braze", cwd=tmp_path)  # rendered from the plan
    assert shown.returncode == 0, shown.stderr
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    assert len([r for r in lines if r["kind"] == "profile"]) >= 40
    assert all("external_id" in r["payload"] for r in lines)
    analytics = tmp_path / "data" / "okendo_analytics.duckdb"  # the analysts' copy, by default
    with duckdb.connect(str(analytics), read_only=True) as conn:
        profiles = conn.execute("select count(*) from marts.customer_profiles").fetchone()[0]
    assert profiles >= 40
    # The runs are in the working folder's instance, the one `okendo-pipeline ui` shows.
    with dg.DagsterInstance.from_config(str(tmp_path / ".dagster_home")) as instance:
        jobs = sorted(r.job_name for r in instance.get_runs())
    assert jobs == ["braze_sync", "iterable_sync", "okendo_publish", "okendo_refresh"]
    status = cli("status", cwd=tmp_path)
    assert status.returncode == 0 and "not synced yet (dry runs only)" in status.stdout
    docs = cli("docs", cwd=tmp_path)  # the models and their lineage, one static page
    page = tmp_path / "data" / "dbt_docs" / "static_index.html"
    assert docs.returncode == 0 and str(page) in docs.stdout, docs.stdout + docs.stderr
    assert all(m in page.read_text() for m in ("sync_history_daily", "customer_profiles"))


def test_ui_shows_the_runs_of_the_commands_run_in_the_same_folder(tmp_path: Path) -> None:
    """`okendo-pipeline ui` starts Dagster's webserver and daemon on `.dagster_home` in the
    working folder, where `okendo-pipeline run` recorded its runs."""
    import json
    import socket
    import time
    import urllib.request

    assert (
        cli("generate", "--out", "data/landing", "--customers", "20", cwd=tmp_path).returncode == 0
    )
    assert cli("run", "--dry-run", cwd=tmp_path).returncode == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKENDO_", "DAGSTER_HOME"))}
    ui = subprocess.Popen(
        [sys.executable, "-m", "okendo_pipeline.cli", "ui", "--port", str(port)],
        cwd=tmp_path, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    query = json.dumps({"query": "{ runsOrError { ... on Runs { results { jobName } } } }"})
    try:
        deadline, jobs = time.monotonic() + 180, None
        while time.monotonic() < deadline and ui.poll() is None:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql", data=query.encode(),
                    headers={"Content-Type": "application/json"},
                )  # fmt: skip
                with urllib.request.urlopen(request, timeout=5) as answer:
                    results = json.load(answer)["data"]["runsOrError"]["results"]
                jobs = sorted(r["jobName"] for r in results)
                break
            except OSError:
                time.sleep(1)
        # The command's runs (the daemon launches neither of the last two) are there.
        assert {"braze_sync", "iterable_sync", "okendo_refresh", "okendo_publish"} <= set(jobs)
        with dg.DagsterInstance.from_config(str(tmp_path / ".dagster_home")) as instance:
            while time.monotonic() < deadline and not instance.get_daemon_heartbeats():
                time.sleep(1)
            assert instance.get_daemon_heartbeats()  # the daemon runs on this instance too
    finally:
        stop_group(ui)


def on_a_terminal(args: list[str], cwd: Path) -> str:
    """Run the console script on a pseudo-terminal 120 columns wide; everything it drew."""
    import fcntl
    import pty
    import struct
    import termios

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ITERABLE_", "BRAZE_"))}
    env["PYTHONPATH"] = str(REPO)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal is its stdin, stdout and stderr
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-m", "okendo_pipeline.cli", *args], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


def test_progress_on_a_terminal_and_none_in_a_log(tmp_path: Path) -> None:
    """Bars with counts, rate and time left for generate, load and build on a terminal (from
    inside Dagster's steps too); not one bar when the output is not a terminal."""
    drawn = on_a_terminal(["generate", "--out", "data/landing", "--customers", "40"], tmp_path)
    drawn += on_a_terminal(["run", "--dry-run"], tmp_path)
    for bar in ("generate 40 customers:", "write landing files:", "load 16 files:",
                "build models and tests:"):  # fmt: skip
        assert bar in drawn, drawn[-2000:]
    assert "node/s" in drawn and "file/s" in drawn and "%|" in drawn
    plain = cli("run", "--dry-run", "--full-refresh", cwd=tmp_path)
    assert plain.returncode == 0 and "%|" not in plain.stdout + plain.stderr
