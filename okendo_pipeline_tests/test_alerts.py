"""Alerts to a Slack-compatible webhook, end to end through `okendo-pipeline run`: once per
change of state, once on recovery, never a secret or an email address, never a failed run."""

import json
from datetime import date
from pathlib import Path

import duckdb

from okendo_fakes.iterable import FakeIterable
from okendo_fakes.server import FakeServer
from okendo_pipeline.lib import alerts
from okendo_pipeline.lib.okendo.generator.generate import generate
from okendo_pipeline_tests.runs import run_command

KEY = "iterable-key-never-in-an-alert"


def run(tmp_path: Path, env: dict[str, str]):
    return run_command(tmp_path, "--as-of", "2026-06-01", env=env)


def test_a_failing_sync_alerts_once_and_its_recovery_once(tmp_path: Path, slack) -> None:
    generate(tmp_path / "landing", 40, seed=6, as_of=date(2026, 6, 1))
    fake = FakeIterable(api_keys=frozenset({KEY}))
    with FakeServer(fake) as server:
        env = {"ITERABLE_BASE_URL": server.url, "OKENDO_ALERT_WEBHOOK_URL": slack.url}
        wrong = run(tmp_path, env | {"ITERABLE_API_KEY": "a-wrong-key"})
        assert wrong.returncode == 1
        [failing] = slack.texts()
        assert "job iterable_sync FAILING" in failing
        again = run(tmp_path, env | {"ITERABLE_API_KEY": "a-wrong-key"})
        assert again.returncode == 1 and len(slack.texts()) == 1  # no news: still failing

        with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as conn:
            emails = [e for (e,) in conn.execute(
                "select lower(email) from marts.customer_profiles order by 1 limit 5"
            ).fetchall()]  # fmt: skip
        fake.forgotten.update(emails)  # Iterable rejects these: more than 1% of the rows
        right = run(tmp_path, env | {"ITERABLE_API_KEY": KEY})
        assert right.returncode == 0, right.stdout + right.stderr
    texts = slack.texts()
    assert any("job iterable_sync recovered" in t for t in texts[1:])
    [rejections] = [t for t in texts if "rejections at iterable FAILING" in t]
    assert "rows rejected" in rejections and "user was forgotten (GDPR) in Iterable" in rejections
    assert len(texts) == 3
    everything = json.dumps(slack.received) + wrong.stdout + wrong.stderr + right.stdout
    assert KEY not in everything and "a-wrong-key" not in json.dumps(slack.received)
    assert "@" not in json.dumps(texts)  # no email address, whatever the messages carried
    assert "secret-token" not in wrong.stdout + wrong.stderr + right.stdout + right.stderr


def test_an_unreachable_alert_endpoint_never_fails_the_run(tmp_path: Path) -> None:
    generate(tmp_path / "landing", 20, seed=7, as_of=date(2026, 6, 1))
    fake = FakeIterable(api_keys=frozenset({KEY}))
    with FakeServer(fake) as server:
        env = {
            "ITERABLE_BASE_URL": server.url,
            "ITERABLE_API_KEY": "a-wrong-key",
            "OKENDO_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hooks/secret-token",  # nothing there
        }
        failed = run(tmp_path, env)
        recovered = run(tmp_path, env | {"ITERABLE_API_KEY": KEY})
    assert failed.returncode == 1 and "alert not delivered" in failed.stderr
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert "secret-token" not in failed.stderr + recovered.stderr


def test_scrub_removes_addresses_and_secret_values() -> None:
    text = alerts.scrub("bad row for Ada.L+x@Example.com with key s3cr3t", ["s3cr3t"])
    assert text == "bad row for [email] with key [secret]"
    assert (
        alerts.rejections(2, 100, {"r": 2}, 0.01)[0] and not alerts.rejections(1, 100, {}, 0.01)[0]
    )
