"""The Braze client against the loopback fake: object caps, errors by index, limits, duplicates."""

import math
from collections import Counter
from datetime import datetime

import pytest

from okendo_fakes.braze import FakeBraze
from okendo_fakes.server import FakeServer, Fault
from okendo_pipeline.defs.braze import payloads
from okendo_pipeline.defs.braze.client import BrazeClient, BrazeSettings, normalise_endpoint
from okendo_pipeline.lib.destinations import Item
from okendo_pipeline.lib.http import AuthError, RetryPolicy

FAST = RetryPolicy(max_attempts=4, max_rate_limited=20, base_delay=0.01, max_delay=0.2)
KEY = "braze-test-key"


def settings(url: str, **kw) -> BrazeSettings:
    return BrazeSettings(rest_endpoint=url, retry=FAST, **kw)


def profile(n: int, **fields) -> Item:
    changed = {"okendo_given_name": f"Name {n}", "okendo_number_of_reviews": n, **fields}
    return Item(f"c{n}", f"c{n}", {"external_id": f"c{n}", **changed})


def event(n: int, user: str = "c1", **props) -> Item:
    obj = payloads.event(
        "external_id", user, event_name="Okendo Review Created",
        occurred_at=datetime(2025, 1, 1, 12), properties={"n": n, **props},
    )  # fmt: skip
    return Item(f"ev{n}", user, obj)


def outcomes(results) -> dict[str, tuple[str, str | None]]:
    return {o.key: (o.status, o.reason) for _, r in results for o in r.outcomes}


def test_75_objects_per_request_with_uneven_tail(braze_fake):
    app, url = braze_fake
    with BrazeClient(KEY, settings(url)) as client:
        results = list(client.track_attributes([profile(n) for n in range(226)]))
    assert sorted(len(b.items) for b, _ in results) == [1, 75, 75, 75]
    assert {s for s, _ in outcomes(results).values()} == {"accepted"}
    assert len(app.profiles) == 226
    assert app.profiles["external_id:c9"]["okendo_number_of_reviews"] == 9


def test_account_limit_setting_matches_a_stricter_workspace():
    app = FakeBraze(max_objects=50)
    with FakeServer(app) as server:
        with BrazeClient(KEY, settings(server.url)) as client:  # 75: too many for this account
            too_many = outcomes(client.track_attributes([profile(n) for n in range(60)]))
        with BrazeClient(KEY, settings(server.url, max_objects=50)) as client:
            fine = outcomes(client.track_attributes([profile(n) for n in range(60)]))
    assert {s for s, _ in too_many.values()} == {"retry"}
    assert "Max Input Length Exceeded" in next(iter(too_many.values()))[1]
    assert {s for s, _ in fine.values()} == {"accepted"} and len(app.profiles) == 60


def test_size_cap_413_keeps_rows_for_retry_and_client_limit_avoids_it():
    app = FakeBraze(max_body_bytes=8_000)
    rows = [profile(n, okendo_referral_shareable_link="l" * 200) for n in range(75)]
    with FakeServer(app) as server:
        with BrazeClient(KEY, settings(server.url)) as client:
            refused = outcomes(client.track_attributes(rows))
        with BrazeClient(KEY, settings(server.url, max_body_bytes=8_000)) as client:
            fine = list(client.track_attributes(rows))
    assert {s for s, _ in refused.values()} == {"retry"}
    assert "HTTP 413" in next(iter(refused.values()))[1]
    assert len(fine) > 1 and {s for s, _ in outcomes(fine).values()} == {"accepted"}
    assert all(r.bytes <= 8_000 for r in app.requests if r.status == 201)


def test_errors_by_index_reject_exactly_those_rows(braze_fake):
    app, url = braze_fake
    app.blocked_external_ids = {"c3"}
    rows = [profile(n) for n in range(6)]
    rows[5].payload["x" * 300] = "too long a key"
    with BrazeClient(KEY, settings(url)) as client:
        got = outcomes(client.track_attributes(rows))
        bad_event = event(2)
        bad_event.payload["time"] = "yesterday"
        ev = outcomes(client.track_events([event(1), bad_event, event(3)]))
    assert got["c3"] == ("rejected", "provided external_id is blacklisted and disallowed")
    assert got["c5"][0] == "rejected" and "255" in got["c5"][1]
    assert [k for k, (s, _) in got.items() if s == "accepted"] == ["c0", "c1", "c2", "c4"]
    assert set(app.profiles) == {f"external_id:c{n}" for n in (0, 1, 2, 4)}
    assert ev["ev2"] == ("rejected", "Event has an invalid 'time'")
    assert ev["ev1"][0] == ev["ev3"][0] == "accepted"
    assert [e["properties"]["n"] for e in app.events] == [1, 3]


def test_null_removes_an_attribute(braze_fake):
    app, url = braze_fake
    with BrazeClient(KEY, settings(url)) as client:
        list(client.track_attributes([profile(1, okendo_loyalty_vip_tier="Gold")]))
        list(client.track_attributes([profile(1, okendo_loyalty_vip_tier=None)]))
    assert "okendo_loyalty_vip_tier" not in app.profiles["external_id:c1"]


def test_apply_then_fail_duplicates_are_reported_and_visible(braze_fake):
    app, url = braze_fake
    app.inject(Fault("apply_then_drop", path="/users/track"))
    rows = [event(n) for n in range(100)]
    with BrazeClient(KEY, settings(url)) as client:
        results = list(client.track_events(rows))
    reported = sum(r.possible_duplicates for _, r in results)
    assert {s for s, _ in outcomes(results).values()} == {"accepted"}
    # The first batch (75) was applied, its answer lost, then resent: Braze keeps both copies.
    assert reported == 75 and len(app.events) == 175


def test_queued_202_counts_as_received(braze_fake):
    app, url = braze_fake
    app.inject(Fault("queued"))
    with BrazeClient(KEY, settings(url)) as client:
        got = outcomes(client.track_attributes([profile(1)]))
    assert got == {"c1": ("accepted", None)} and "external_id:c1" in app.profiles


def test_faults_lose_nothing_with_concurrency(braze_fake):
    app, url = braze_fake
    app.inject(Fault("status", status=500, probability=0.2, times=None))
    app.inject(Fault("drop", probability=0.1, times=None))
    app.inject(Fault("rate_limit", probability=0.1, times=None))
    rows = [profile(n) for n in range(1500)]
    with BrazeClient(KEY, settings(url)) as client:
        got = outcomes(client.track_attributes(rows))
        retry = [r for r in rows if got[r.key][0] == "retry"]
        app.faults.clear()
        got.update(outcomes(client.track_attributes(retry)))
    assert {s for s, _ in got.values()} == {"accepted"}
    assert len(app.profiles) == 1500
    assert any(r.fault for r in app.requests)


def test_the_window_count_in_each_answer_paces_without_a_429():
    app = FakeBraze(rate_limit=(30, 1.0))
    rows = [profile(n) for n in range(45 * 75)]
    with (
        FakeServer(app) as server,
        BrazeClient(KEY, settings(server.url, rate_fraction=0.9)) as client,
    ):
        got = outcomes(client.track_attributes(rows))
    assert [r.status for r in app.requests] == [201] * 45
    # At most 90 % of each one-second window (27 of 30): the rest is the workspace's others'.
    per_window = Counter(math.floor(r.at) for r in app.requests)
    assert max(per_window.values()) <= 27 and len(per_window) >= 2
    assert {s for s, _ in got.values()} == {"accepted"} and len(app.profiles) == 45 * 75


def test_a_429_holds_every_thread_until_the_reset_header():
    app = FakeBraze(rate_limit=(30, 1.0))
    app.inject(Fault("rate_limit", times=2))  # another sender spent the window
    rows = [profile(n) for n in range(20 * 75)]
    with (
        FakeServer(app) as server,
        BrazeClient(KEY, settings(server.url, rate_fraction=None, concurrency=4)) as client,
    ):
        got = outcomes(client.track_attributes(rows))
    statuses = [r.status for r in app.requests]
    assert statuses.count(429) == 2 and statuses.count(201) == 20
    first_429 = next(r.at for r in app.requests if r.status == 429)
    reset = math.floor(first_429) + 1
    # Only the requests other threads had on their way still land before the reset.
    early = [r for r in app.requests if r.status == 201 and first_429 < r.at < reset]
    assert len(early) <= 3
    assert {s for s, _ in got.values()} == {"accepted"} and len(app.profiles) == 20 * 75


def test_bad_key_fails_fast_with_four_threads(braze_fake):
    app, url = braze_fake
    with (
        BrazeClient("wrong-braze-key", settings(url, concurrency=4)) as client,
        pytest.raises(AuthError, match="HTTP 401") as err,
    ):
        list(client.track_attributes([profile(n) for n in range(3000)]))
    assert app.count_requests() <= 4
    assert "wrong-braze-key" not in str(err.value)


def test_endpoint_accepts_host_or_url():
    assert normalise_endpoint("rest.iad-01.braze.com/") == "https://rest.iad-01.braze.com"
    assert normalise_endpoint("http://127.0.0.1:9000") == "http://127.0.0.1:9000"
