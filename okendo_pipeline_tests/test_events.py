"""The event stream: deterministic ids across rebuilds, one event per occurrence."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb

from okendo_pipeline.lib.catalogue import event_names
from okendo_pipeline.lib.okendo.generator.generate import generate
from okendo_pipeline_tests.runs import dbt_cli, run_refresh
from okendo_pipeline_tests.samples import envelope, write_landing


def build(landing: Path, database: Path) -> list[tuple]:
    assert run_refresh(landing, database, as_of="2026-06-01").success
    conn = duckdb.connect(str(database), read_only=True)
    rows = conn.execute(
        "select event_id, event_name, customer_key, occurred_at, properties::varchar "
        "from marts.customer_events order by event_id"
    ).fetchall()
    conn.close()
    return rows


def test_rebuilds_on_another_warehouse_give_the_same_events(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    generate(landing, 400, seed=11, as_of=date(2026, 6, 1))
    first = build(landing, tmp_path / "a.duckdb")
    second = build(landing, tmp_path / "b.duckdb")
    assert first == second
    names = {r[1] for r in first}
    assert names <= event_names()
    assert len(names) >= 16  # a 400-customer sample exercises nearly every event type
    assert all(len(r[0].encode()) <= 512 for r in first)


def test_a_changed_record_keeps_its_one_event(landing: Path, tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    write_landing(landing, "review", "1.jsonl", [envelope("review", 1, rating=5)])
    before = build(landing, database)
    write_landing(landing, "review", "2.jsonl", [envelope("review", 2, "update", rating=3)])
    after = build(landing, database)
    assert [r[0] for r in before] == [r[0] for r in after] == ["review-created:r-1"]
    assert '"rating":5' in before[0][4] and '"rating":3' in after[0][4]


def test_a_late_version_keeps_the_tier_change_event(landing: Path, tmp_path: Path) -> None:
    """A tier change is the member entering a tier at a time, not the version that showed it
    first: an earlier version with the same tier, delivered late, keeps the event and its id
    (only its properties may follow the history), so nothing delivered goes out again."""
    database = tmp_path / "w.duckdb"
    entered = "2026-03-01T00:00:00Z"

    def version(seq: int, tier: str, updated: str) -> dict:
        entry = entered if tier == "Gold" else "2026-01-01T00:00:00Z"
        return envelope(
            "loyalty_customer", seq, "update", vipTierName=tier, vipTierEntryDate=entry,
            dateUpdated=updated,
        )  # fmt: skip

    write_landing(landing, "loyalty_customer", "1.jsonl", [
        version(1, "Silver", "2026-01-01T00:00:00Z"),
        version(3, "Gold", "2026-03-05T00:00:00Z"),
    ])  # fmt: skip
    before = [r for r in build(landing, database) if r[1] == "Okendo Loyalty Tier Changed"]
    # The version that first showed Gold arrives after the build.
    write_landing(landing, "loyalty_customer", "2.jsonl", [version(2, "Gold", entered)])
    after = [r for r in build(landing, database) if r[1] == "Okendo Loyalty Tier Changed"]
    assert len(before) == len(after) == 1
    assert (
        before[0][0] == after[0][0] == "loyalty-tier-changed:lc-1:Gold:2026-03-01T00:00:00.000000Z"
    )
    assert before[0][3] == after[0][3]  # occurred at the entry into Gold either way


def catalogue_mismatches(database: Path, *, full: bool) -> set[str]:
    """The event ids the dbt test ``assert_event_properties_match_catalogue`` returns, compiled
    by dbt for ``database`` (``full``: as a full build checks, else the touched customers)."""
    from okendo_pipeline.defs.common.resources import WarehouseResource

    target = database.parent / "dbt-check"
    dbt_cli(
        WarehouseResource(database=str(database)), target,
        "compile", "--quiet", "--select", "assert_event_properties_match_catalogue",
        *(["--full-refresh"] if full else []),
    )  # fmt: skip
    sql = next(target.rglob("assert_event_properties_match_catalogue.sql")).read_text()
    with duckdb.connect(str(database), read_only=True) as conn:
        return {r[0] for r in conn.execute(f"select event_id from ({sql})").fetchall()}


def test_the_catalogue_test_returns_each_event_whose_keys_differ(tmp_path: Path) -> None:
    """The catalogue check (dbt's singular test on customer_events) finds an extra key, a
    missing key and a referral opt-in whose role names the other variant, and nothing else; an
    incremental build's check reads only the touched customers' events."""
    landing, database = tmp_path / "landing", tmp_path / "w.duckdb"
    generate(landing, 200, seed=5, as_of=date(2026, 6, 1))
    assert run_refresh(landing, database, as_of="2026-06-01").success
    assert catalogue_mismatches(database, full=True) == set()

    with duckdb.connect(str(database)) as conn:

        def one(name: str, role: str | None = None) -> tuple[str, str]:
            return conn.execute(
                "select event_id, customer_key from marts.customer_events where event_name = ? "
                "and (? is null or properties ->> 'customer_role' = ?) order by event_id limit 1",
                [name, role, role],
            ).fetchone()  # fmt: skip

        extra, extra_customer = one("Okendo Review Created")
        missing, missing_customer = one("Okendo Loyalty Points Awarded")
        swapped, swapped_customer = one("Opted In to Okendo Referrals", "referrer")
        for event_id, patch in [
            (extra, {"unexpected": 1}),
            (missing, {"points": None}),  # a merge patch's null removes the key
            (swapped, {"customer_role": "recipient"}),
        ]:
            conn.execute(
                "update marts.customer_events set properties = json_merge_patch(properties, ?) "
                "where event_id = ?",
                [json.dumps(patch), event_id],
            )
        conn.execute("insert into raw.touched_customers values (?, 'check')", [extra_customer])

    assert catalogue_mismatches(database, full=True) == {extra, missing, swapped}
    customers = {extra: extra_customer, missing: missing_customer, swapped: swapped_customer}
    touched = {event for event, customer in customers.items() if customer == extra_customer}
    assert catalogue_mismatches(database, full=False) == touched
