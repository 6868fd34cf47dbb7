"""The Iterable client against the loopback fake: batching, every failure shape, limits, auth."""

import json

import pytest

from okendo_fakes.iterable import FakeIterable
from okendo_fakes.server import FakeServer, Fault
from okendo_pipeline.defs.iterable import payloads
from okendo_pipeline.defs.iterable.client import IterableClient, IterableSettings
from okendo_pipeline.defs.iterable.limits import BULK_UPDATE_PATH, TRACK_BULK_PATH
from okendo_pipeline.lib.destinations import Item
from okendo_pipeline.lib.http import AuthError, RetryPolicy

FAST = RetryPolicy(max_attempts=4, max_rate_limited=20, base_delay=0.01, max_delay=0.2)
KEY = "iterable-test-key"


def settings(url: str, **kw) -> IterableSettings:
    return IterableSettings(base_url=url, **{"retry": FAST, **kw})


def profile(n: int, email: str | None = None, **fields) -> Item:
    email = email or f"c{n}@example.com"
    changed = {"okendo_given_name": f"Name {n}", "okendo_number_of_reviews": n, **fields}
    return Item(email, email, payloads.user("email", email, changed))


def event(n: int, email: str, name: str = "Okendo Review Created", **props) -> Item:
    from datetime import datetime

    obj = payloads.event(
        "email", email, event_id=f"ev{n}", event_name=name,
        occurred_at=datetime(2025, 1, 1), properties={"n": n, **props},
    )  # fmt: skip
    return Item(f"ev{n}", email, obj)


def outcomes(results) -> dict[str, tuple[str, str | None]]:
    return {o.key: (o.status, o.reason) for _, r in results for o in r.outcomes}


def assert_accepted_were_stored(app: FakeIterable, results) -> None:
    """No row reported accepted that the fake did not store."""
    for key, (status, _) in outcomes(results).items():
        if status == "accepted":
            assert f"email:{key.lower()}" in app.users or key in app.events, key


def test_batches_by_count_and_all_rows_stored(iterable_fake):
    app, url = iterable_fake
    rows = [profile(n) for n in range(2501)]
    with IterableClient(KEY, settings(url)) as client:
        results = list(client.update_users(rows))
    assert [len(b.items) for b, _ in results] == [1000, 1000, 501]
    assert app.count_requests(BULK_UPDATE_PATH) == 3
    assert {s for s, _ in outcomes(results).values()} == {"accepted"}
    assert len(app.users) == 2501
    assert app.users["email:c7@example.com"]["Okendo Number of Reviews"] == 7
    assert_accepted_were_stored(app, results)


def test_batches_by_encoded_size_stay_under_the_servers_cap():
    app = FakeIterable(max_body_bytes=20_000)
    rows = [profile(n, okendo_referral_shareable_link="https://r.example/" + "x" * (n % 700))
            for n in range(300)]  # fmt: skip
    with (
        FakeServer(app) as server,
        IterableClient(KEY, settings(server.url, max_body_bytes=20_000)) as client,
    ):
        results = list(client.update_users(rows))
    assert len(results) >= 4  # far below the 1,000-row count limit: size decided
    assert all(r.bytes <= 20_000 for r in app.requests)
    assert len(app.users) == 300


def test_oversized_request_is_refused_by_the_fake_and_rows_kept_for_retry():
    app = FakeIterable(max_body_bytes=5_000)
    with (
        FakeServer(app) as server,
        IterableClient(KEY, settings(server.url, max_body_bytes=50_000)) as client,
    ):
        results = list(client.update_users([profile(n) for n in range(200)]))
    got = outcomes(results)
    assert {s for s, _ in got.values()} == {"retry"}
    assert "BatchTooLarge" in next(iter(got.values()))[1]
    assert app.users == {}


def test_every_failed_updates_shape_maps_to_its_row(iterable_fake):
    app, url = iterable_fake
    app.forgotten = {"gone@example.com"}
    with IterableClient(KEY, settings(url)) as client:
        # The first write fixes the type of "Okendo Latest NPS Date" as date.
        list(client.update_users([profile(0, okendo_latest_nps_date="2025-01-01")]))
        rows = [
            profile(1),
            profile(2, email="not an email"),
            profile(3, email="gone@example.com"),
            Item("typed@example.com", "typed@example.com",
                 {"email": "typed@example.com", "dataFields": {"Okendo Latest NPS Date": "soon"}}),
            profile(5, email="Mixed.Case@Example.com"),
        ]  # fmt: skip
        results = list(client.update_users(rows))
    got = outcomes(results)
    assert got["c1@example.com"] == ("accepted", None)
    assert got["Mixed.Case@Example.com"] == ("accepted", None)
    assert got["not an email"][0] == "rejected" and "invalidEmails" in got["not an email"][1]
    assert got["gone@example.com"][0] == "rejected" and "forgotten" in got["gone@example.com"][1]
    assert got["typed@example.com"][0] == "rejected"
    assert "invalidDataEmails" in got["typed@example.com"][1]
    assert "email:typed@example.com" not in app.users
    assert_accepted_were_stored(app, results)


def test_user_ids_when_the_project_is_keyed_by_user_id(iterable_fake):
    app, url = iterable_fake
    rows = [
        Item("a@example.com", "1001", payloads.user("userId", "1001", {"okendo_latest_nps": 9})),
        Item("b@example.com", "bad id ", payloads.user("userId", "bad id ", {})),
        # No Shopify id: this customer goes by email in the same batch.
        Item("c@example", "c@example", payloads.user("email", "c@example", {})),
        Item("D@example.com", "D@example.com", payloads.user("email", "D@example.com", {})),
    ]
    with IterableClient(KEY, settings(url, identifier="userId")) as client:
        got = outcomes(client.update_users(rows))
    assert got["a@example.com"] == ("accepted", None)
    assert got["b@example.com"][0] == "rejected" and "invalidUserIds" in got["b@example.com"][1]
    assert got["c@example"][0] == "rejected" and "invalidEmails" in got["c@example"][1]
    assert got["D@example.com"] == ("accepted", None)
    assert app.users["userId:1001"]["Okendo Latest NPS"] == 9


def test_filtered_out_fields_are_reported(iterable_fake):
    app, url = iterable_fake
    app.create_new_fields = False
    app.known_fields = {"Okendo Given Name"}
    with IterableClient(KEY, settings(url)) as client:
        results = list(client.update_users([profile(1)]))
    assert results[0][1].filtered_out_fields == ["Okendo Number of Reviews"]
    assert app.users["email:c1@example.com"] == {
        "email": "c1@example.com",
        "Okendo Given Name": "Name 1",
    }


def test_events_upsert_by_id_and_failures_by_identifier_and_name(iterable_fake):
    app, url = iterable_fake
    app.disallowed_event_names = {"Okendo Referral Rejected"}
    app.events_create_users = False
    with IterableClient(KEY, settings(url)) as client:
        list(client.update_users([profile(1)]))
        rows = [
            event(1, "c1@example.com"),
            event(2, "c1@example.com"),
            event(3, "stranger@example.com"),
            event(4, "c1@example.com", name="Okendo Referral Rejected"),
            event(5, "broken email"),
        ]
        first = outcomes(client.track_events(rows))
        again = outcomes(client.track_events(rows[:2]))
    assert first["ev1"] == first["ev2"] == ("accepted", None) == again["ev1"]
    assert first["ev3"][0] == "retry" and "notFoundEmails" in first["ev3"][1]
    assert first["ev4"][0] == "rejected" and "disallowed" in first["ev4"][1]
    assert first["ev5"][0] == "rejected" and "invalidEmails" in first["ev5"][1]
    # Sent twice, stored once: the id makes the resend an update.
    assert sorted(app.events) == ["ev1", "ev2"] and app.event_writes == 4
    assert app.events["ev1"]["createdAt"] == 1735689600


def test_unnamed_failures_are_resent_not_counted_accepted(iterable_fake):
    app, url = iterable_fake
    original = app.bulk_update

    def miscount(body):
        resp = original(body)
        resp.body["failCount"] += 1  # a failure Iterable counts but does not name
        return resp

    app.bulk_update = miscount
    with IterableClient(KEY, settings(url)) as client:
        got = outcomes(client.update_users([profile(1), profile(2)]))
    assert {s for s, _ in got.values()} == {"retry"}


def test_injected_faults_lose_nothing(iterable_fake):
    app, url = iterable_fake
    app.inject(
        Fault("status", status=500),
        Fault("rate_limit"),
        Fault("drop"),
        Fault("apply_then_drop"),
        Fault("status", status=503),  # the first batch's 4th failure: attempts run out
        Fault("drop", path=TRACK_BULK_PATH),
    )
    rows = [profile(n) for n in range(30)]
    with IterableClient(KEY, settings(url, batch_size=10)) as client:
        got = outcomes(client.update_users(rows))
        events = outcomes(client.track_events([event(n, f"c{n}@example.com") for n in range(30)]))
        # What did not get through is handed back for the next run, never dropped.
        retry = [r for r in rows if got[r.key][0] == "retry"]
        assert len(retry) == 10 and "HTTP 503" in got[retry[0].key][1]
        again = outcomes(client.update_users(retry))
    assert {s for s, _ in again.values()} == {"accepted"}
    assert {s for s, _ in events.values()} == {"accepted"}
    assert len(app.users) == 30 and len(app.events) == 30


def test_unpaced_client_meets_the_fakes_limit_and_still_delivers(iterable_fake):
    app, url = iterable_fake  # trackBulk limited to 10/s, bucket of 10
    rows = [event(n, "c1@example.com") for n in range(40)]
    with IterableClient(KEY, settings(url, batch_size=1, rate_fraction=None)) as client:
        got = outcomes(client.track_events(rows))
    statuses = [r.status for r in app.requests]
    assert 429 in statuses
    assert {s for s, _ in got.values()} == {"accepted"} and len(app.events) == 40


def test_paced_client_stays_under_the_limit(iterable_fake):
    app, url = iterable_fake
    rows = [event(n, "c1@example.com") for n in range(25)]
    with IterableClient(KEY, settings(url, batch_size=1)) as client:
        list(client.track_events(rows))
    assert [r.status for r in app.requests] == [200] * 25


def test_bad_key_fails_fast_with_a_clear_message(iterable_fake):
    app, url = iterable_fake
    with (
        IterableClient("wrong-key-123", settings(url)) as client,
        pytest.raises(AuthError, match="HTTP 401 BadApiKey") as err,
    ):
        list(client.update_users([profile(n) for n in range(3000)]))
    assert app.count_requests() == 1
    assert "wrong-key-123" not in str(err.value)


def test_fake_state_is_inspectable_over_http(iterable_fake):
    import requests

    _, url = iterable_fake
    with IterableClient(KEY, settings(url)) as client:
        list(client.update_users([profile(1)]))
    state = requests.get(f"{url}/_fake/state", timeout=5).json()
    assert state["users"]["email:c1@example.com"]["Okendo Given Name"] == "Name 1"
    log = requests.get(f"{url}/_fake/requests", timeout=5).json()
    assert [r["path"] for r in log] == [BULK_UPDATE_PATH]
    # Faults can be injected over HTTP too (the demo has no Python handle on the fake).
    requests.post(
        f"{url}/_fake/faults",
        data=json.dumps([{"kind": "status", "status": 503, "path": TRACK_BULK_PATH}]),
        timeout=5,
    )
    with IterableClient(KEY, settings(url, retry=RetryPolicy(max_attempts=1))) as client:
        [(_, result)] = list(client.track_events([event(1, "c1@example.com")]))
    assert result.outcomes[0].status == "retry" and "HTTP 503" in result.error
