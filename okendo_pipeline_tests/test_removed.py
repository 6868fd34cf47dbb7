"""A customer who leaves the marts: ``OKENDO_SYNC_ON_REMOVED=clear`` nulls every Okendo field
at each destination, once; ``keep`` (the default) sends nothing."""

import duckdb

from okendo_pipeline.lib import incremental
from okendo_pipeline.lib.catalogue import FIELDS_BY_COLUMN
from okendo_pipeline_tests.runs import run_refresh
from okendo_pipeline_tests.syncing import AS_OF, scalar, sync

CLEAR = {"OKENDO_SYNC_ON_REMOVED": "clear"}


def remove_customers(database: str, n: int) -> list[str]:
    """Take ``n`` customers with a given name out of the marts, as deleting every one of their
    records upstream would."""
    with duckdb.connect(database) as conn:
        keys = [k for (k,) in conn.execute(
            "select customer_key from marts.customer_profiles where okendo_given_name is not null "
            "order by customer_key limit ?", [n],
        ).fetchall()]  # fmt: skip
        for table in ("customer_profiles", "customer_profile_attributes", "customer_events"):
            conn.execute(f"delete from marts.{table} where customer_key in ?", [keys])
        incremental.record_marts_changed(conn, f"{n} customers removed")
    return keys


def test_clear_nulls_every_field_once_at_both_destinations(built, fakes) -> None:
    _, db = built
    (iterable, iurl), (braze, burl) = fakes["iterable"], fakes["braze"]
    sync(db, "iterable", iurl)
    sync(db, "braze", burl)
    gone = remove_customers(db, 3)
    before = {k: dict(iterable.users[f"email:{k}"]) for k in gone}

    kept = sync(db, "iterable", iurl)  # the default: keep
    assert kept.plan.profiles_cleared == 0 and kept.requests == 0
    assert {k: iterable.users[f"email:{k}"] for k in gone} == before

    cleared = sync(db, "iterable", iurl, env=CLEAR)
    assert cleared.status == "succeeded" and cleared.plan.profiles_cleared == 3
    assert cleared.profiles_accepted == 3
    for key in gone:
        user = iterable.users[f"email:{key}"]
        okendo = {n: v for n, v in user.items() if n.startswith("Okendo ")}
        assert okendo and all(v is None for v in okendo.values()), okendo
        assert set(okendo) == set(before[key]) - {"email"}  # every field it had, no other
    braze_cleared = sync(db, "braze", burl, env=CLEAR)
    assert braze_cleared.plan.profiles_cleared == 3
    for key in gone:
        profile = next(p for p in braze.profiles.values() if p.get("external_id") == key)
        assert not [f for f in FIELDS_BY_COLUMN if f in profile]  # removed, as Braze does null
        assert not [a for a in profile if a.startswith("okendo_profile_")]

    # Once: the next runs send nothing for them.
    requests = iterable.count_requests() + braze.count_requests()
    for dest, url in (("iterable", iurl), ("braze", burl)):
        again = sync(db, dest, url, env=CLEAR)
        assert again.plan.profiles_cleared == 0 and again.requests == 0
    assert iterable.count_requests() + braze.count_requests() == requests
    assert scalar(
        db, "select count(*) from sync.profile_state where row_hash = 0 and customer_key in ?",
        [gone],
    ) == 6  # fmt: skip


def test_a_cleared_customer_who_comes_back_is_sent_afresh(built, fakes) -> None:
    landing, db = built
    iterable, url = fakes["iterable"]
    sync(db, "iterable", url)
    gone = remove_customers(db, 2)
    assert sync(db, "iterable", url, env=CLEAR).plan.profiles_cleared == 2
    # A full refresh rebuilds the marts from raw: the customers are back.
    assert run_refresh(landing, db, AS_OF, full_refresh=True).success
    back = sync(db, "iterable", url, env=CLEAR)
    assert back.status == "succeeded" and back.plan.profiles_cleared == 0
    assert back.plan.profiles_planned >= 2 and back.profiles_accepted >= 2
    for key in gone:
        user = iterable.users[f"email:{key}"]
        assert user.get("Okendo Given Name") is not None  # its values again, not the nulls
    assert scalar(
        db, "select count(*) from sync.profile_state where row_hash = 0 and customer_key in ?",
        [gone],
    ) == 0  # fmt: skip
