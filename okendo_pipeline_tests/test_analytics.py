"""The analysts' database: published after runs, replaced whole, never in a run's way."""

import json
import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import duckdb

from okendo_pipeline.lib import analytics
from okendo_pipeline.lib.okendo.generator.generate import generate
from okendo_pipeline_tests.runs import land_another_review, run_refresh
from okendo_pipeline_tests.syncing import AS_OF, rows, sync

ANALYST = textwrap.dedent(
    """
    import json, sys, time, duckdb
    conn = duckdb.connect(sys.argv[1], read_only=True)
    print(json.dumps({"open": True}), flush=True)
    seen = set()
    while not sys.stdin.closed:
        seen.add(conn.execute("select count(*) from marts.customer_events").fetchone()[0])
        if sys.stdin in __import__("select").select([sys.stdin], [], [], 0.05)[0]:
            break
    print(json.dumps({"seen": sorted(seen)}), flush=True)
    """
)


def test_an_open_analyst_session_never_blocks_a_run(tmp_path: Path, analytics_for_the_test):
    landing, database = tmp_path / "landing", str(tmp_path / "w.duckdb")
    generate(landing, 60, seed=2, as_of=date(2026, 6, 1))
    assert run_refresh(landing, database, "2026-06-01").success
    published = analytics_for_the_test
    with duckdb.connect(str(published), read_only=True) as conn:
        before = conn.execute("select count(*) from marts.customer_events").fetchone()[0]
        when = conn.execute("select published_at from okendo.published").fetchone()[0]
    assert before > 0 and when is not None

    analyst = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(published)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert json.loads(analyst.stdout.readline()) == {"open": True}
    land_another_review(landing, database, "while-open")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ITERABLE_", "BRAZE_"))}
    run = subprocess.run(
        [sys.executable, "-m", "okendo_pipeline.cli", "run", "--dry-run", "--landing",
         str(landing), "--database", database, "--as-of", "2026-06-01"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    analyst.stdin.write("stop\n")
    analyst.stdin.close()
    seen = json.loads(analyst.stdout.readline())["seen"]
    assert analyst.wait(30) == 0
    assert run.returncode == 0, run.stdout + run.stderr
    assert seen == [before]  # the open session read its file, whole, for the whole run
    with duckdb.connect(str(published), read_only=True) as conn:  # a new session: the new file
        assert conn.execute(
            "select count(*) from marts.customer_events "
            "where event_id = 'review-created:while-open'"
        ).fetchone() == (1,)
        tables = {t for (t,) in conn.execute(
            "select schema_name || '.' || table_name from duckdb_tables()"
        ).fetchall()}  # fmt: skip
    assert {"marts.customer_profiles", "raw.rejected_records", "sync.runs"} <= tables
    assert not list(published.parent.glob(".*.new"))  # no staging file left behind


def tiny_warehouse(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """A warehouse with one profile and no rejected line: what a publish needs, no more."""
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    conn.execute("create schema marts; create schema raw")
    conn.execute("create table marts.customer_profiles as select 'a' as customer_key")
    conn.execute("create table raw.rejected_records (reason varchar)")
    return conn


def test_publish_skips_when_nothing_changed(tmp_path: Path) -> None:
    target = tmp_path / "a.duckdb"
    with tiny_warehouse(tmp_path) as conn:
        first = analytics.publish(conn, target)
        again = analytics.publish(conn, target)
        conn.execute("insert into raw.rejected_records values ('bad line')")
        changed = analytics.publish(conn, target)
    assert (first.skipped, again.skipped, changed.skipped) == (False, True, False)
    # Only the rejected records are written again: no customer changed.
    assert first.tables == 2 and (changed.mode, changed.rows) == ("changes", 1)


def test_a_file_patched_for_a_week_is_written_whole_again(tmp_path: Path) -> None:
    target = tmp_path / "a.duckdb"
    with tiny_warehouse(tmp_path) as conn:
        assert analytics.publish(conn, target).mode == "full"
        conn.execute("insert into raw.rejected_records values ('one')")
        assert analytics.publish(conn, target).mode == "changes"
        with duckdb.connect(str(target)) as published:  # as if written whole 8 days ago
            published.execute(
                "update okendo.published set written_whole_at = now() - interval 8 day"
            )
        conn.execute("insert into raw.rejected_records values ('two')")
        assert analytics.publish(conn, target).mode == "full"
        conn.execute("insert into raw.rejected_records values ('three')")
        assert analytics.publish(conn, target).mode == "changes"


def publish_mode(result) -> str:
    """How a run's publish went: ``full``, ``changes`` or ``compared``."""
    [event] = [
        e
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key.to_user_string() == "analytics/okendo_analytics"
    ]
    return event.materialization.metadata["mode"].value


def test_a_publish_of_the_changes_equals_a_full_publish(
    tmp_path: Path, analytics_for_the_test, fakes, caplog
) -> None:
    landing, database = tmp_path / "landing", str(tmp_path / "w.duckdb")
    generate(landing, 80, seed=3, as_of=date(2026, 11, 1))
    _, url = fakes["iterable"]
    first = run_refresh(landing, database, AS_OF)
    assert first.success and publish_mode(first) == "full"
    sync(database, "iterable", url)  # every profile acknowledged: published by the sync job
    land_another_review(landing, database, "published-1", rating=1)
    second = run_refresh(landing, database, AS_OF)
    assert second.success and publish_mode(second) == "changes"
    sync(database, "iterable", url)  # the reviewer's profile acknowledged again
    land_another_review(landing, database, "published-2", rating=2)
    assert publish_mode(run_refresh(landing, database, AS_OF)) == "changes"
    # Months later: a full build (next birthdays move), the changes found by comparing.
    birthdays = "select okendo_loyalty_next_birthday_date from marts.customer_profiles order by 1"
    before = rows(str(analytics_for_the_test), birthdays)
    assert publish_mode(run_refresh(landing, database, "2027-05-01")) == "compared"
    assert rows(str(analytics_for_the_test), birthdays) != before
    land_another_review(landing, database, "published-3", rating=3)
    assert publish_mode(run_refresh(landing, database, "2027-05-01")) == "changes"

    assert "copying it whole" not in caplog.text  # the changes alone made the counts match
    fresh = tmp_path / "fresh.duckdb"
    with duckdb.connect(database) as conn:
        assert analytics.publish(conn, fresh).mode == "full"
    with duckdb.connect() as conn:
        conn.execute(f"attach '{analytics_for_the_test}' as kept (read_only)")
        conn.execute(f"attach '{fresh}' as fresh (read_only)")
        listed = "select schema_name || '.' || table_name from duckdb_tables() " \
                 "where database_name = ? and schema_name <> 'okendo' order by 1"  # fmt: skip
        tables = [t for (t,) in conn.execute(listed, ["kept"]).fetchall()]
        assert tables == [t for (t,) in conn.execute(listed, ["fresh"]).fetchall()]
        assert "sync_history.sync_history_acknowledged" in tables
        for table in tables:
            for a, b in (("kept", "fresh"), ("fresh", "kept")):
                extra = conn.execute(
                    f"select count(*) from (select * from {a}.{table} "
                    f"except all select * from {b}.{table})"
                ).fetchone()[0]
                assert extra == 0, f"{table}: {extra} rows in {a} only"
        assert conn.execute(
            "select count(*) from kept.marts.customer_events where event_id in "
            "('review-created:published-1', 'review-created:published-2', "
            "'review-created:published-3')"
        ).fetchone() == (3,)
