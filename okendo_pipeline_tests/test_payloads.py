"""Payload builders: mart values to each destination's exact names and formats (specification,
"Profiles" and "Destinations")."""

import json
from datetime import date, datetime
from decimal import Decimal

import duckdb
import pytest

from okendo_pipeline.defs.braze import payloads as braze
from okendo_pipeline.defs.iterable import payloads as iterable
from okendo_pipeline.lib.catalogue import PROFILE_FIELDS
from okendo_pipeline.lib.dbt_project import DBT_PROJECT_DIR

SPEC_ITERABLE_NAMES = {
    "Okendo Given Name", "Okendo Family Name", "Okendo Number of Reviews",
    "Okendo Average Review Rating", "Okendo Latest Review Rating",
    "Okendo Latest Review Sentiment", "Okendo Average Review Sentiment",
    "Okendo Number of Survey Responses", "Okendo Latest NPS", "Okendo Latest NPS Category",
    "Okendo Latest NPS Date", "Okendo Referral Shareable Link",
    "Okendo Number of Successful Referrals", "Okendo Latest Successful Referral Date",
    "Okendo Total Successful Referral Revenue", "Okendo Loyalty Program Status",
    "Okendo Loyalty Enrolment Date", "Okendo Loyalty Points Balance",
    "Okendo Loyalty Points Expiry Date", "Okendo Loyalty Next Birthday Date",
    "Okendo Loyalty VIP Tier", "Okendo Loyalty VIP Tier Expiry Date",
}  # fmt: skip


def test_profile_fields_are_the_contracts_22():
    assert {f.iterable_name for f in PROFILE_FIELDS} == SPEC_ITERABLE_NAMES
    # Braze keys are the snake_case of the Iterable names.
    for f in PROFILE_FIELDS:
        assert f.column == f.iterable_name.lower().replace(" ", "_")


def test_profile_fields_match_the_mart_columns():
    """The mart's columns carry exactly these names (the golden tests build it)."""
    sql = (DBT_PROJECT_DIR / "models" / "marts" / "customer_profiles.sql").read_text()
    for f in PROFILE_FIELDS:
        assert f" as {f.column}" in sql


def test_iterable_user_carries_changed_fields_by_iterable_name():
    obj = iterable.user(
        "email",
        "ann@example.com",
        {
            "okendo_latest_nps_date": date(2025, 3, 1),
            "okendo_total_successful_referral_revenue": Decimal("120.50"),
            "okendo_loyalty_points_balance": 1200,
            "okendo_loyalty_vip_tier": None,
            "okendo_profile_skin_type": "dry",  # Braze only
        },
    )
    assert obj == {
        "email": "ann@example.com",
        "dataFields": {
            "Okendo Latest NPS Date": "2025-03-01 00:00:00 +00:00",
            "Okendo Total Successful Referral Revenue": 120.5,
            "Okendo Loyalty Points Balance": 1200,
            "Okendo Loyalty VIP Tier": None,
        },
    }
    assert iterable.user("userId", "123", {})["userId"] == "123"


def test_iterable_dates_from_strings_and_aware_timestamps():
    assert iterable.iterable_date("2025-03-01") == "2025-03-01 00:00:00 +00:00"
    assert iterable.iterable_date("2025-03-01T10:11:12Z") == "2025-03-01 10:11:12 +00:00"
    assert iterable.iterable_date("2025-03-01T10:11:12+02:00") == "2025-03-01 08:11:12 +00:00"


def test_iterable_event():
    obj = iterable.event(
        "email",
        "ann@example.com",
        event_id="review:r1",
        event_name="Okendo Loyalty Tier Changed",
        occurred_at=datetime(2025, 3, 1, 10, 0, 0),
        properties={"new_tier": "Gold", "tier_expiry_date": "2026-03-01T00:00:00Z"},
    )
    assert obj == {
        "email": "ann@example.com",
        "eventName": "Okendo Loyalty Tier Changed",
        "id": "review:r1",
        "createdAt": 1740823200,
        "dataFields": {"new_tier": "Gold", "tier_expiry_date": "2026-03-01 00:00:00 +00:00"},
    }
    with pytest.raises(ValueError, match="over 512 bytes"):
        iterable.event(
            "email", "a@b.co", event_id="x" * 513, event_name="E",
            occurred_at=datetime(2025, 1, 1), properties={},
        )  # fmt: skip


@pytest.mark.parametrize(
    ("setting", "email", "shopify", "expected"),
    [
        ("email", "ann@example.com", "42", ("external_id", "ann@example.com")),
        ("shopify_customer_id", "ann@example.com", "42", ("external_id", "42")),
        ("shopify_customer_id", "ann@example.com", None, ("email", "ann@example.com")),
        ("shopify_customer_id", "ann@example.com", "", ("email", "ann@example.com")),
    ],
)
def test_braze_identity(setting, email, shopify, expected):
    assert braze.identity(setting, email, shopify) == expected


def test_braze_identity_needs_something():
    with pytest.raises(ValueError, match="no email"):
        braze.identity("email", None, "42")


def render_braze(rows: list[dict]) -> list[dict]:
    """Braze attribute objects as the sync renders them, in DuckDB, from plan rows (columns of
    ``sync.outbox_profiles``, typed as the marts type them)."""
    types = {"string": "varchar", "integer": "hugeint", "number": "double", "date": "date"}
    columns = {
        "operation": "varchar", "changed_fields": "varchar[]", "identity_kind": "varchar",
        "identity": "varchar",
        **{f.column: types[f.kind] for f in PROFILE_FIELDS},
        "okendo_total_successful_referral_revenue": "decimal(38,2)",
        "profile_attributes": "json", "old_attributes": "json",
    }  # fmt: skip
    conn = duckdb.connect()
    conn.execute(f"create table plan ({', '.join(f'{c} {t}' for c, t in columns.items())})")
    for row in rows:
        names = list(row)
        conn.execute(
            f"insert into plan ({', '.join(names)}) values ({', '.join('?' for _ in names)})",
            [json.dumps(v) if n.endswith("attributes") and v else v for n, v in row.items()],
        )
    rendered = conn.execute(f"select {braze.attributes_sql()} from plan").fetchall()
    return [json.loads(o) for (o,) in rendered]


def test_braze_attributes_iso_dates_null_removes_and_strings_clipped():
    changed = [
        "okendo_loyalty_next_birthday_date", "okendo_average_review_rating",
        "okendo_total_successful_referral_revenue", "okendo_latest_nps", "okendo_given_name",
        "okendo_loyalty_points_balance", "profile_attributes",
    ]  # fmt: skip
    (obj,) = render_braze([{
        "operation": "create", "changed_fields": changed, "identity_kind": "external_id",
        "identity": "42", "okendo_loyalty_next_birthday_date": date(2025, 2, 28),
        "okendo_average_review_rating": 4.33,
        "okendo_total_successful_referral_revenue": Decimal("0.00"), "okendo_latest_nps": None,
        "okendo_given_name": "é" * 300, "okendo_loyalty_points_balance": 120,
        "okendo_family_name": "not changed, not sent",
        "profile_attributes": {"okendo_profile_skin_type": "x" * 300,
                               "okendo_profile_concerns": ["y" * 300, "Dry", 3]},
    }])  # fmt: skip
    assert obj == {
        "external_id": "42",
        "okendo_loyalty_next_birthday_date": "2025-02-28T00:00:00Z",
        "okendo_average_review_rating": 4.33,
        "okendo_total_successful_referral_revenue": 0.0,
        "okendo_latest_nps": None,
        "okendo_given_name": "é" * 255,
        "okendo_loyalty_points_balance": 120,
        "okendo_profile_skin_type": "x" * 255,
        "okendo_profile_concerns": ["y" * 255, "Dry", 3],
    }


def test_braze_answers_send_what_changed_and_null_what_went():
    old = {"okendo_profile_skin_type": "Dry", "okendo_profile_hair": "Red", "okendo_profile_x": 1}
    new = {"okendo_profile_skin_type": "Oily", "okendo_profile_hair": "Red", "okendo_profile_y": 2}
    update, create, clear = render_braze([
        {"operation": "update", "changed_fields": ["profile_attributes"], "identity_kind": "email",
         "identity": "ann@example.com", "profile_attributes": new, "old_attributes": old},
        # a new identity is a create: every answer goes, whatever was acknowledged before
        {"operation": "create", "changed_fields": ["profile_attributes"], "identity_kind":
         "external_id", "identity": "7", "profile_attributes": new, "old_attributes": old},
        {"operation": "clear", "changed_fields": ["okendo_given_name", "profile_attributes"],
         "identity_kind": "email", "identity": "bob@example.com", "old_attributes": old},
    ])  # fmt: skip
    assert update == {
        "email": "ann@example.com", "okendo_profile_skin_type": "Oily", "okendo_profile_y": 2,
        "okendo_profile_x": None,
    }  # fmt: skip
    assert create == {"external_id": "7", **new}
    assert clear == {
        "email": "bob@example.com", "okendo_given_name": None,
        **dict.fromkeys(old),
    }  # fmt: skip


def test_braze_event():
    obj = braze.event(
        "email",
        "ann@example.com",
        event_name="Okendo Review Created",
        occurred_at=datetime(2025, 3, 1, 10, 0, 0),
        properties={"body": "b" * 400, "photo_urls": ["u" * 300], "rating": 5},
    )
    assert obj == {
        "email": "ann@example.com",
        "name": "Okendo Review Created",
        "time": "2025-03-01T10:00:00Z",
        "properties": {"body": "b" * 255, "photo_urls": ["u" * 255], "rating": 5},
    }
