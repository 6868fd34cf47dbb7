"""A sync killed mid-send (SIGKILL, no cleanup) and run again delivers everything, with no
duplicate Iterable event and at most one batch of duplicate Braze events, which it reports."""

import subprocess
import sys
import time

import pytest

from okendo_fakes.server import Fault
from okendo_pipeline_tests.syncing import mart_counts, rows, scalar, sync


@pytest.mark.parametrize("dest", ["iterable", "braze"])
def test_killed_mid_send_then_run_again(built, fakes, dest):
    _, db = built
    profiles, events = mart_counts(db)
    app, url = fakes[dest]
    batch = 50 if dest == "iterable" else 75
    app.inject(Fault("slow", seconds=0.01, times=None))
    worker = subprocess.Popen(
        [sys.executable, "-m", "okendo_pipeline_tests.crash_worker", db, dest, url, str(batch)]
    )
    try:
        deadline = time.monotonic() + 120
        while len(app.events) < 2 * batch:  # the events phase is under way
            assert worker.poll() is None, "the worker finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        app.faults.clear()
        app.inject(Fault("apply_then_slow", seconds=60))
        assert app.stalled.wait(60)  # the next batch is applied; its answer never comes
        worker.kill()
    finally:
        worker.kill()
        worker.wait()
    assert scalar(db, "select status from sync.runs") == "running"  # died without a word
    stored_at_kill = len(app.events)
    assert stored_at_kill < events

    report = sync(db, dest, url)
    assert report.recovered_runs == 1 and report.status == "succeeded"
    assert rows(db, "select status from sync.runs order by started_at") == [
        ("interrupted",),
        ("succeeded",),
    ]
    assert scalar(db, "select count(*) from sync.profile_state") == profiles
    assert scalar(db, "select count(*) from sync.event_ledger where status = 'sent'") == events
    if dest == "iterable":
        assert len(app.users) == profiles
        assert len(app.events) == events  # resent events replaced themselves by id
        assert app.event_writes > events  # ...and some were resent
    else:
        assert len(app.profiles) == profiles
        duplicates = len(app.events) - events
        # Exactly the batch that was applied but never answered, and the run says so.
        assert duplicates == batch
        assert report.plan.resent_after_interruption == batch
