"""One person, one destination profile: guests sent by email who later get a Shopify id are
merged into their identified profile (Braze ``/users/identify``, Iterable ``users/merge``)
before anything goes out under the id, so their past events and attributes follow them."""

import json
from pathlib import Path

import duckdb

from okendo_fakes.server import Fault
from okendo_pipeline_tests.runs import run_refresh
from okendo_pipeline_tests.samples import write_landing
from okendo_pipeline_tests.syncing import AS_OF, sync

SETTINGS = {"BRAZE_EXTERNAL_ID": "shopify_customer_id", "ITERABLE_IDENTIFIER": "userId"}


def guests_with_events(database: str, n: int) -> list[str]:
    with duckdb.connect(database, read_only=True) as conn:
        return [k for (k,) in conn.execute(
            """
            select p.customer_key from marts.customer_profiles p
            where p.shopify_customer_id is null
              and exists (select 1 from marts.customer_events e
                          where e.customer_key = p.customer_key)
              and exists (select 1 from raw.current_resources r
                          where r.resource_type = 'customer' and r.customer_key = p.customer_key)
            order by p.customer_key limit ?
            """, [n],
        ).fetchall()]  # fmt: skip


def give_shopify_ids(landing: Path, database: str, guests: list[str]) -> dict[str, str]:
    """A later version of each guest's customer record, now with a Shopify id."""
    with duckdb.connect(database, read_only=True) as conn:
        rows = conn.execute(
            "select customer_key, resource from raw.current_resources "
            "where resource_type = 'customer' and customer_key in ? order by customer_key",
            [guests],
        ).fetchall()
    ids, lines = {}, []
    for n, (key, raw) in enumerate(rows):
        ids[key] = str(9_100_000_000 + n)
        resource = json.loads(raw) | {"shopifyCustomerId": ids[key]}
        seq = str(990_000_000_000 + n)
        lines.append({"resourceType": "customer", "topic": "update", "version": "2025-02-01",
                      "sequenceNumber": seq, "resource": resource})  # fmt: skip
    write_landing(landing, "customer", "shopify-ids.jsonl", lines)
    return ids


def test_guests_who_get_a_shopify_id_stay_one_profile_at_both_destinations(built, fakes) -> None:
    landing, db = built
    (iterable, iurl), (braze, burl) = fakes["iterable"], fakes["braze"]
    for dest, url in (("iterable", iurl), ("braze", burl)):
        assert sync(db, dest, url, env=SETTINGS).status == "succeeded"
    guests = guests_with_events(db, 15)
    assert len(guests) == 15
    braze_events = {g: sum(e["_profile"] == f"email:{g}" for e in braze.events) for g in guests}
    iterable_events = {
        g: sum(e.get("email", "").lower() == g for e in iterable.events.values()) for g in guests
    }
    assert all(braze_events.values()) and all(iterable_events.values())
    attributes = {g: dict(braze.profiles[f"email:{g}"]) for g in guests}

    ids = give_shopify_ids(landing, db, guests)
    assert run_refresh(landing, db, AS_OF).success
    for dest, url in (("iterable", iurl), ("braze", burl)):
        report = sync(db, dest, url, env=SETTINGS)
        assert report.status == "succeeded" and report.plan.identities_merged == 15
        assert report.identities_merged == 15

    for guest in guests:
        target = f"external_id:{ids[guest]}"
        assert f"email:{guest}" not in braze.profiles  # merged, not left behind
        assert [k for k, p in braze.profiles.items() if p.get("email") == guest] == [target]
        assert sum(e["_profile"] == target for e in braze.events) >= braze_events[guest]
        assert set(attributes[guest]) <= set(braze.profiles[target])  # attributes followed
        user = f"userId:{ids[guest]}"
        assert f"email:{guest}" not in iterable.users and user in iterable.users
        moved = sum(e.get("userId") == ids[guest] for e in iterable.events.values())
        assert moved >= iterable_events[guest]
    assert sorted(braze.identified) == sorted(f"email:{g}->external_id:{ids[g]}" for g in guests)
    assert sorted(iterable.merges) == sorted(f"email:{g}->userId:{ids[g]}" for g in guests)

    # Once: acknowledged under the id, nobody is merged again.
    for dest, url in (("iterable", iurl), ("braze", burl)):
        assert sync(db, dest, url, env=SETTINGS).plan.identities_merged == 0


def test_a_failed_merge_sends_nothing_under_the_id_until_it_succeeds(built, fakes) -> None:
    landing, db = built
    braze, burl = fakes["braze"]
    assert sync(db, "braze", burl, env=SETTINGS).status == "succeeded"
    guests = guests_with_events(db, 3)
    ids = give_shopify_ids(landing, db, guests)
    assert run_refresh(landing, db, AS_OF).success
    tracked = braze.count_requests("/users/track")
    braze.inject(Fault("status", status=503, times=None, path="/users/identify"))
    failed = sync(db, "braze", burl, env=SETTINGS)
    assert failed is None or failed.status == "failed"
    assert braze.count_requests("/users/track") == tracked  # nothing went out under the ids
    assert not [g for g in guests if f"external_id:{ids[g]}" in braze.profiles]
    with duckdb.connect(db, read_only=True) as conn:
        error = conn.execute(
            "select error from sync.runs where destination = 'braze' order by started_at desc"
        ).fetchone()[0]
    assert "3 of 3 identity merges failed" in error and "nothing was sent" in error

    braze.faults.clear()
    again = sync(db, "braze", burl, env=SETTINGS)
    assert again.status == "succeeded" and again.identities_merged == 3
    for guest in guests:
        assert f"email:{guest}" not in braze.profiles
        assert f"external_id:{ids[guest]}" in braze.profiles
