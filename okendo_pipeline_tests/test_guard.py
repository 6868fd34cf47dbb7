"""The blast-radius guard: a plan that would change too much is held, shown, alerted, approved."""

import math
from datetime import date
from pathlib import Path

import duckdb

from okendo_fakes.iterable import FakeIterable
from okendo_fakes.server import FakeServer
from okendo_pipeline.lib import incremental
from okendo_pipeline.lib.okendo.generator.generate import generate
from okendo_pipeline.lib.status import render_status, render_sync_run
from okendo_pipeline.lib.sync.guard import GuardCounts, held_reason
from okendo_pipeline_tests.runs import land_another_review, run_command
from okendo_pipeline_tests.syncing import rows, scalar, sync

KEY = "iterable-guard-key"


def test_held_reason_names_every_rule_a_plan_breaks() -> None:
    assert held_reason(GuardCounts(100, 25, {}), 0.25) is None  # at the limit: sent
    assert held_reason(GuardCounts(0, 0, {}), 0.25) is None  # nothing acknowledged
    over = held_reason(GuardCounts(100, 26, {"okendo_given_name": 26, "x": 3}), 0.25)
    assert over is not None
    assert "would change 26 of 100 acknowledged profiles (26.0%" in over
    assert "would set okendo_given_name to null for 26 of 100" in over and " x " not in over
    # A field blanked for many, the profiles otherwise quiet (a calendar field, say).
    only_nulls = held_reason(GuardCounts(100, 2, {"okendo_loyalty_next_birthday_date": 40}), 0.25)
    assert only_nulls and only_nulls.startswith("would set okendo_loyalty_next_birthday_date")


def test_a_blanked_field_is_held_then_sent_when_approved(built, fakes) -> None:
    _, db = built
    iterable, url = fakes["iterable"]
    checks: dict[str, bool] = {}
    first = sync(db, "iterable", url, checks=checks)
    assert first.status == "succeeded" and not first.plan.guarded and checks["guard"]
    acknowledged = scalar(db, "select count(*) from sync.profile_state")

    # An upstream bug blanks the given name of a fifth of the profiles.
    blanked = math.ceil(acknowledged * 0.2)
    with duckdb.connect(db) as conn:
        conn.execute(
            "update marts.customer_profiles set okendo_given_name = null where customer_key in "
            "(select customer_key from marts.customer_profiles "
            " where okendo_given_name is not null order by customer_key limit ?)",
            [blanked],
        )
        incremental.record_marts_changed(conn, "a fifth of the given names blanked")
    env = {"OKENDO_SYNC_MAX_CHANGE_SHARE": "0.1"}
    requests = iterable.count_requests()
    ledger = scalar(db, "select count(*) from sync.event_ledger")
    dry = sync(db, "iterable", None, dry_run=True, env=env)  # says so, holds nothing
    assert dry.status == "dry_run" and dry.plan.held_reason
    assert "the guard would hold it" in render_sync_run(db, dry.run_id, "iterable")
    assert scalar(db, "select count(*) from sync.runs where status = 'held'") == 0
    held = sync(db, "iterable", url, env=env, checks=checks)
    assert held.status == "held" and not checks["guard"]
    assert f"would set okendo_given_name to null for {blanked:,} of {acknowledged:,}" in (
        held.plan.held_reason or ""
    )
    assert iterable.count_requests() == requests  # nothing sent
    assert scalar(db, "select count(*) from sync.event_ledger") == ledger
    assert scalar(db, "select count(*) from sync.outbox_profiles") == blanked  # the plan is kept
    status = render_status(db)
    assert "HELD by the guard" in status and "okendo_given_name" in status
    assert "--approve iterable" in status

    approved = sync(db, "iterable", url, env=env, run_settings={"approve": ["iterable"]},
                    checks=checks)  # fmt: skip
    assert approved.status == "succeeded" and approved.profiles_accepted == blanked
    assert checks["guard"] and "HELD" not in render_status(db)
    names = [u.get("Okendo Given Name", "absent") for u in iterable.users.values()]
    assert names.count(None) >= blanked  # sent as null, not left as it was
    # Approved once: the next plan is guarded again, and small enough to go out.
    again = sync(db, "iterable", url, env=env, checks=checks)
    assert again.status == "succeeded" and again.plan.guarded and not again.plan.held_reason


def test_a_newer_plan_replaces_a_held_one(built, fakes) -> None:
    _, db = built
    iterable, url = fakes["iterable"]
    sync(db, "iterable", url)
    with duckdb.connect(db) as conn:
        before = conn.execute(
            "select customer_key, okendo_family_name from marts.customer_profiles"
        ).fetchall()
        conn.execute("update marts.customer_profiles set okendo_family_name = 'Wrong'")
        incremental.record_marts_changed(conn, "every family name wrong")
    assert sync(db, "iterable", url).status == "held"
    with duckdb.connect(db) as conn:  # upstream is fixed before anyone approves
        conn.executemany(
            "update marts.customer_profiles set okendo_family_name = ? where customer_key = ?",
            [(name, key) for key, name in before],
        )
        incremental.record_marts_changed(conn, "the family names fixed")
    requests = iterable.count_requests()
    newer = sync(db, "iterable", url)
    assert newer.status == "succeeded" and newer.plan.profiles_updated == 0
    assert iterable.count_requests() == requests
    assert rows(db, "select distinct status from sync.runs order by 1") == [
        ("held",),
        ("succeeded",),
    ]


def test_run_exits_3_when_held_alerts_once_and_approve_sends(tmp_path: Path, slack) -> None:
    generate(tmp_path / "landing", 60, seed=11, as_of=date(2026, 6, 1))
    fake = FakeIterable(api_keys=frozenset({KEY}))
    with FakeServer(fake) as server:
        env = {
            "ITERABLE_BASE_URL": server.url,
            "ITERABLE_API_KEY": KEY,
            "OKENDO_ALERT_WEBHOOK_URL": slack.url,
            "OKENDO_SYNC_MAX_CHANGE_SHARE": "0.01",  # one profile of 60 is more than this
        }
        first = run_command(tmp_path, "--as-of", "2026-06-01", env=env)
        assert first.returncode == 0, first.stdout + first.stderr

        # Half a year later: next birthdays move for many, and the guard lets that through.
        later = run_command(tmp_path, "--as-of", "2026-12-15", env=env)
        assert later.returncode == 0, later.stdout + later.stderr
        database = str(tmp_path / "w.duckdb")
        [(planned, acknowledged)] = rows(
            database,
            "select profiles_changed, (select count(*) from sync.profile_state) from sync.runs "
            "order by started_at desc limit 1",
        )
        assert planned / acknowledged > 0.01  # birthdays alone: over the share, not held

        land_another_review(tmp_path / "landing", database, "guard-review-1", rating=1)
        land_another_review(tmp_path / "landing", database, "guard-review-2", rating=2)
        requests = fake.count_requests()
        held = run_command(tmp_path, "--as-of", "2026-12-15", env=env)
        assert held.returncode == 3, held.stdout + held.stderr
        assert "iterable: HELD by the guard, nothing sent" in held.stdout
        assert fake.count_requests() == requests
        still = run_command(tmp_path, "--as-of", "2026-12-15", env=env)  # a newer plan, held too
        assert still.returncode == 3
        [alert] = [t for t in slack.texts() if "held by the guard" in t]
        assert "FAILING" in alert and "--approve iterable" in alert and "@" not in alert

        wrong = run_command(tmp_path, "--approve", "iterabel", env=env)
        assert wrong.returncode == 2 and "not a destination" in wrong.stderr
        sent = run_command(tmp_path, "--as-of", "2026-12-15", "--approve", "iterable", env=env)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert fake.count_requests() > requests
    texts = [t for t in slack.texts() if "held by the guard" in t]
    assert len(texts) == 2 and "recovered" in texts[1]
