"""The diff-and-sync engine end to end: landing folder -> marts -> fakes over loopback HTTP."""

import json
from collections import Counter

import duckdb

from okendo_fakes.iterable import FakeIterable
from okendo_fakes.server import FakeServer, Fault
from okendo_pipeline.defs.iterable.resources import IterableResource
from okendo_pipeline.lib.status import render_status
from okendo_pipeline.lib.sync.dry_run import payloads
from okendo_pipeline_tests.runs import land_another_review, run_refresh
from okendo_pipeline_tests.samples import write_landing
from okendo_pipeline_tests.syncing import AS_OF, mart_counts, rows, scalar, sync


def test_first_run_sends_everything_and_a_second_sends_nothing(built, fakes):
    _, db = built
    profiles, events = mart_counts(db)
    (iterable, iurl), (braze, burl) = fakes["iterable"], fakes["braze"]
    first_i = sync(db, "iterable", iurl)
    first_b = sync(db, "braze", burl)
    for report in (first_i, first_b):
        assert report.status == "succeeded" and report.plan.first_sync
        assert report.profiles_accepted == profiles and report.events_accepted == events
    assert len(iterable.users) == profiles and len(iterable.events) == events
    assert len(braze.profiles) == profiles and len(braze.events) == events

    # Values arrive under the contract's names and formats.
    key, rating, nps_date = rows(
        db,
        "select customer_key, okendo_average_review_rating, okendo_latest_nps_date "
        "from marts.customer_profiles where okendo_latest_nps_date is not null "
        "and okendo_average_review_rating is not null order by customer_key limit 1",
    )[0]
    user = iterable.users[f"email:{key}"]
    assert user["Okendo Average Review Rating"] == rating
    assert user["Okendo Latest NPS Date"] == f"{nps_date} 00:00:00 +00:00"
    profile = next(p for p in braze.profiles.values() if p.get("external_id") == key)
    assert profile["okendo_latest_nps_date"] == f"{nps_date}T00:00:00Z"
    # A first send carries no nulls: nothing to remove yet.
    assert all(v is not None for v in profile.values())

    requests_before = iterable.count_requests() + braze.count_requests()
    again = [sync(db, "iterable", iurl), sync(db, "braze", burl)]
    assert iterable.count_requests() + braze.count_requests() == requests_before
    for report in again:
        assert report.plan.profiles_created == report.plan.profiles_updated == 0
        assert report.plan.events == 0 and report.requests == 0
    assert scalar(db, "select count(*) from sync.runs where status = 'succeeded'") == 4


def test_changed_raw_records_send_only_changed_fields_and_new_events(built, fakes):
    landing, db = built
    (iterable, iurl), (braze, burl) = fakes["iterable"], fakes["braze"]
    sync(db, "iterable", iurl)
    sync(db, "braze", burl)
    events_before = {r[0] for r in rows(db, "select event_id from marts.customer_events")}

    # A customer renames; another writes a new review.
    customer = json.loads(
        scalar(
            db,
            "select resource from raw.current_resources where resource_type = 'customer' "
            "order by resource_id limit 1",
        )
    )
    renamed = customer["email"].lower()
    customer["givenName"] = "Renamed"
    review = json.loads(
        scalar(
            db,
            "select resource from raw.current_resources where resource_type = 'review' "
            "and customer_key <> ? order by resource_id limit 1",
            [renamed],
        )
    )
    reviewer = review["reviewer"]["email"].lower()
    review |= {"reviewId": "new-review-1", "dateCreated": "2026-10-30T10:00:00Z", "rating": 1}
    write_landing(landing, "customer", "late.jsonl", [
        {"resourceType": "customer", "topic": "update", "sequenceNumber": "99999999",
         "resource": customer},
    ])  # fmt: skip
    write_landing(landing, "review", "late.jsonl", [
        {"resourceType": "review", "topic": "create", "sequenceNumber": "99999999",
         "resource": review},
    ])  # fmt: skip
    assert run_refresh(landing, db, AS_OF).success
    new_events = {
        r[0] for r in rows(db, "select event_id from marts.customer_events")
    } - events_before
    assert new_events  # the review (and nothing it does not cause)

    iterable.bodies.clear()
    braze.bodies.clear()
    report = sync(db, "iterable", iurl)
    assert report.plan.profiles_updated == 2 and report.plan.profiles_created == 0
    users = [u for path, body in iterable.bodies if path.endswith("bulkUpdate")
             for u in body["users"]]  # fmt: skip
    by_email = {u["email"]: u["dataFields"] for u in users}
    assert set(by_email) == {renamed, reviewer}
    assert by_email[renamed] == {"Okendo Given Name": "Renamed"}
    assert "Okendo Number of Reviews" in by_email[reviewer]
    assert "Okendo Given Name" not in by_email[reviewer]
    sent = {e["id"] for path, body in iterable.bodies if path.endswith("trackBulk")
            for e in body["events"]}  # fmt: skip
    assert sent == new_events

    report = sync(db, "braze", burl)
    attrs = [a for _, body in braze.bodies for a in body.get("attributes", [])]
    assert {a["external_id"] for a in attrs} == {renamed, reviewer}
    assert next(a for a in attrs if a["external_id"] == renamed) == {
        "external_id": renamed,
        "okendo_given_name": "Renamed",
    }
    assert report.events_accepted == len(new_events)


def test_faults_lose_nothing(built, fakes):
    _, db = built
    profiles, events = mart_counts(db)
    (iterable, iurl), (braze, burl) = fakes["iterable"], fakes["braze"]
    for app in (iterable, braze):
        app.inject(Fault("status", status=503, probability=0.15, times=None))
        app.inject(Fault("drop", probability=0.1, times=None))
        app.inject(Fault("rate_limit", probability=0.1, times=None))
        app.inject(Fault("apply_then_drop", probability=0.05, times=None))
    for _ in range(6):  # what a run could not deliver, a later one does
        for dest, url in (("iterable", iurl), ("braze", burl)):
            sync(db, dest, url, batch_size=50) if dest == "iterable" else sync(db, dest, url)
        pending = scalar(
            db,
            "select count(*) from sync.event_ledger where status not in ('sent', 'skipped')",
        ) + scalar(db, "select count(*) from sync.profile_issues")
        acked = scalar(db, "select count(*) from sync.profile_state")
        if pending == 0 and acked == 2 * profiles:
            break
    assert acked == 2 * profiles and pending == 0
    assert len(iterable.users) == profiles and len(iterable.events) == events
    assert len(braze.profiles) == profiles
    dupes = len(braze.events) - events
    reported = scalar(
        db, "select sum(possible_duplicates) from sync.runs where destination = 'braze'"
    )
    assert 0 <= dupes <= reported  # every duplicate Braze kept was reported as possible
    assert any(r.fault for r in iterable.requests) and any(r.fault for r in braze.requests)


class NotYetIterable(FakeIterable):
    """Events for some users come back notFound the first time (a user Iterable has not finished
    creating): a per-row partial failure of the retry kind."""

    def __init__(self, missing: set[str], **kw) -> None:
        super().__init__(**kw)
        self.missing = missing

    def track_bulk(self, body):
        resp = super().track_bulk(body)
        hit = [e for e in body["events"] if e.get("email") in self.missing]
        if hit:
            for e in hit:
                self.events.pop(e["id"], None)
            resp.body["successCount"] -= len(hit)
            resp.body["failCount"] += len(hit)
            resp.body["failedUpdates"]["notFoundEmails"] = [e["email"] for e in hit]
        return resp


def test_partial_failures_are_retried_then_given_up(built):
    _, db = built
    (a, n_a), (b, n_b) = rows(
        db,
        "select email, count(*) from marts.customer_events group by email "
        "order by count(*) desc, email limit 2",
    )
    app = NotYetIterable(missing={a, b})
    with FakeServer(app) as server:
        first = sync(db, "iterable", server.url, max_attempts=3)
        assert first.events_failed == n_a + n_b and first.events_rejected == 0
        app.missing = {b}  # a's user exists now; b's never will
        second = sync(db, "iterable", server.url, max_attempts=3)
        assert second.plan.events == n_a + n_b  # only the failed rows are planned again
        assert second.events_accepted == n_a and second.events_failed == n_b
        third = sync(db, "iterable", server.url, max_attempts=3)
        assert third.events_failed == n_b
        fourth = sync(db, "iterable", server.url, max_attempts=3)
    # After three failed runs the rows are rejected: reported, and not retried forever.
    assert fourth.plan.events == 0 and fourth.requests == 0
    rejected = rows(db, "select count(*), any_value(reason) from sync.event_ledger "
                        "where status = 'rejected'")[0]  # fmt: skip
    assert rejected[0] == n_b
    assert rejected[1].startswith("gave up after 3 failed runs: user not found in Iterable")
    assert len(app.events) == scalar(db, "select count(*) from marts.customer_events") - n_b


def test_permanent_rejection_is_reported_and_not_retried(built, fakes):
    _, db = built
    braze, url = fakes["braze"]
    blocked = scalar(db, "select min(customer_key) from marts.customer_profiles")
    braze.blocked_external_ids = {blocked}
    first = sync(db, "braze", url)
    assert first.profiles_rejected == 1
    assert first.rejections == {
        "provided external_id is blacklisted and disallowed": first.profiles_rejected
        + first.events_rejected
    }
    issue = rows(db, "select status, attempts, reason from sync.profile_issues")
    assert issue == [("rejected", 1, "provided external_id is blacklisted and disallowed")]
    before = braze.count_requests()
    second = sync(db, "braze", url)
    assert second.plan.profiles_created == 0 and second.plan.events == 0
    assert braze.count_requests() == before
    # `okendo-pipeline status` tells the story: what is in, what was refused and why.
    text = render_status(db)
    profiles = scalar(db, "select count(*) from marts.customer_profiles")
    assert f"{profiles - 1:,} acknowledged of {profiles:,} in the mart" in text
    assert "1 rejected" in text and "provided external_id is blacklisted and disallowed" in text
    assert "last run" in text and "succeeded" in text


def test_second_destination_is_backfilled_without_resending_to_the_first(built, fakes):
    _, db = built
    profiles, events = mart_counts(db)
    (iterable, iurl), (braze, burl) = fakes["iterable"], fakes["braze"]
    sync(db, "iterable", iurl)
    iterable_requests = iterable.count_requests()
    # Braze added later, with the default backfill start: events of the last 30 days.
    report = sync(db, "braze", burl, backfill="30d")
    recent = scalar(
        db,
        "select count(*) from marts.customer_events where occurred_at >= ?::date - interval 30 day",
        [AS_OF],
    )
    assert report.plan.first_sync and report.profiles_accepted == profiles
    assert report.events_accepted == recent and report.plan.events_skipped == events - recent
    assert len(braze.events) == recent
    assert iterable.count_requests() == iterable_requests
    assert sync(db, "iterable", iurl).requests == 0


def test_dry_run_stores_what_would_be_sent_and_sends_nothing(built, fakes):
    _, db = built
    profiles, events = mart_counts(db)
    (iterable, iurl) = fakes["iterable"]
    report = sync(db, "iterable", None, dry_run=True)
    assert report.status == "dry_run" and iterable.count_requests() == 0
    assert report.plan.profiles_created == profiles and report.plan.events == events
    stored = dict(rows(
        db, "select kind, count(*) from sync.outbox_payloads group by kind"
    ))  # fmt: skip
    assert stored == {"profile": 5, "event": 5}  # samples; the plan holds the rest
    assert report.samples and "dataFields" in report.samples[0]
    codec = IterableResource().codec()
    with duckdb.connect(db, read_only=True) as conn:
        rendered = list(payloads(conn, codec, None, None))
        kinds = Counter(r["kind"] for r in rendered)
        assert kinds == {"profile": profiles, "event": report.plan.events}
        samples = [r["payload"] for r in rendered[:5]]
        assert samples == [s for s in report.samples if s.pop("kind") == "profile"]
        one = rendered[0]["row_key"]
        theirs = list(payloads(conn, codec, [one], None))
    assert [r["row_key"] for r in theirs if r["kind"] == "profile"] == [one]
    assert {r["payload"]["email"].strip().lower() for r in theirs} == {one}
    for table in ("profile_state", "event_ledger", "destinations"):
        assert scalar(db, f"select count(*) from sync.{table}") == 0
    real = sync(db, "iterable", iurl)
    assert real.plan.first_sync and real.profiles_accepted == profiles


def test_the_max_attempts_setting_reaches_the_fold_of_the_sync_job(built):
    """``OKENDO_SYNC_MAX_ATTEMPTS``, read by the definitions, decides when the job's fold gives
    a row up (the deliver step once ignored it and folded with a default of 10)."""
    _, db = built
    [(email, n)] = rows(
        db,
        "select email, count(*) from marts.customer_events group by email "
        "order by count(*) desc, email limit 1",
    )
    app = NotYetIterable(missing={email})
    with FakeServer(app) as server:
        report = sync(db, "iterable", server.url, max_attempts=1)
    assert report.events_failed == n
    [(status, count, reason)] = rows(
        db,
        "select status, count(*), any_value(reason) from sync.event_ledger "
        "where status <> 'sent' group by status",
    )
    assert (status, count) == ("rejected", n)
    assert reason.startswith("gave up after 1 failed runs: user not found in Iterable")


def test_braze_bodies_rendered_in_sql_split_at_the_byte_limit(built, fakes):
    """A batch DuckDB joined is split where a request would pass ``max_body_bytes``; every
    profile arrives, each request within the limit."""
    _, db = built
    profiles, _ = mart_counts(db)
    braze, url = fakes["braze"]
    report = sync(db, "braze", url, backfill="none", max_body_bytes=4_000)
    assert report.status == "succeeded" and report.profiles_accepted == profiles
    tracks = [r for r in braze.requests if r.path == "/users/track"]
    assert len(tracks) > -(-profiles // 75) and max(r.bytes for r in tracks) <= 4_000
    assert len(braze.profiles) == profiles


def test_a_plan_compares_every_customer_unless_only_rebuilt_ones_can_differ(built, fakes):
    """The scope of each plan (``lib/sync/scope.py``) through the cases that decide it."""
    landing, db = built
    iterable, url = fakes["iterable"]
    every = "every customer: "

    def scope(report) -> str:
        assert report is not None
        return report.plan.scope

    assert scope(sync(db, "iterable", url)) == every + "the destination's first run"
    dry = sync(db, "iterable", None, dry_run=True)
    assert scope(dry) == every + "a dry run previews the whole difference"
    quiet = sync(db, "iterable", url)
    assert scope(quiet) == "0 customers rebuilt or failed since the last run"
    assert quiet.plan.profiles_planned == quiet.plan.events == 0

    land_another_review(landing, db, "scope-1", rating=1)
    assert run_refresh(landing, db, AS_OF).success  # incremental: one customer rebuilt
    one = sync(db, "iterable", url)
    assert scope(one) == "1 customer rebuilt or failed since the last run"
    assert one.plan.profiles_updated == 1 and one.plan.events == 1

    # Rows whose send failed are retried by the next run, scoped or not.
    land_another_review(landing, db, "scope-2", rating=2)
    assert run_refresh(landing, db, AS_OF).success
    iterable.inject(Fault("status", status=503, times=None))
    failing = sync(db, "iterable", url)
    assert failing.status == "succeeded" and failing.profiles_failed == 1
    iterable.reset()
    retried = sync(db, "iterable", url)
    assert scope(retried) == "1 customer rebuilt or failed since the last run"
    assert retried.plan.profiles_updated == 1 and retried.plan.events_retried == 1

    # A run that failed leaves planned rows with no outcome: the next compares everything.
    land_another_review(landing, db, "scope-3", rating=3)
    assert run_refresh(landing, db, AS_OF).success
    keys, iterable.api_keys = iterable.api_keys, frozenset({"someone-else"})
    stopped = sync(db, "iterable", url)
    assert stopped is None or stopped.status == "failed"
    iterable.api_keys = keys
    after = sync(db, "iterable", url)
    assert scope(after) == every + "the last run is failed"
    assert after.plan.profiles_updated == 1 and after.plan.events == 1

    cleared = sync(db, "iterable", url, env={"OKENDO_SYNC_ON_REMOVED": "clear"})
    assert scope(cleared) == every + "the identity or removal settings changed"
    assert run_refresh(landing, db, AS_OF, full_refresh=True).success
    full = sync(db, "iterable", url, env={"OKENDO_SYNC_ON_REMOVED": "clear"})
    assert scope(full) == every + "a full build ran since the last run"
    assert full.plan.profiles_planned == 0


def test_a_ledger_written_before_its_event_key_gets_one() -> None:
    """A warehouse whose ledger predates ``event_key`` has it added and filled once; the
    plans find their events' rows on it, so a row without one would look new and go again."""
    from okendo_pipeline.lib.sync import schema

    with duckdb.connect() as conn:
        conn.execute("create schema sync")
        conn.execute(
            "create table sync.event_ledger (destination varchar not null, event_id varchar not "
            "null, status varchar not null, attempts integer not null, reason varchar, "
            "updated_at timestamptz not null, sent_at timestamptz, run_id varchar)"
        )
        conn.execute(
            "insert into sync.event_ledger values "
            "('iterable', 'review:r-1:created', 'sent', 1, null, now(), now(), 'r')"
        )
        schema.ensure_schema(conn)
        schema.ensure_schema(conn)  # once only
        assert conn.execute(
            "select event_key = md5_number_lower(event_id), count(*) over () from sync.event_ledger"
        ).fetchall() == [(True, 1)]
