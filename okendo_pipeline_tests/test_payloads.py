"""Payload builders: mart values to each destination's exact names and formats (specification,
"Profiles" and "Destinations")."""

from datetime import date, datetime
from decimal import Decimal

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


def test_braze_attributes_iso_dates_null_removes_and_strings_clipped():
    obj = braze.attributes(
        "external_id",
        "42",
        {
            "okendo_loyalty_next_birthday_date": date(2025, 2, 28),
            "okendo_average_review_rating": 4.33,
            "okendo_total_successful_referral_revenue": Decimal("0.00"),
            "okendo_latest_nps": None,
            "okendo_profile_skin_type": "x" * 300,
        },
    )
    assert obj == {
        "external_id": "42",
        "okendo_loyalty_next_birthday_date": "2025-02-28T00:00:00Z",
        "okendo_average_review_rating": 4.33,
        "okendo_total_successful_referral_revenue": 0.0,
        "okendo_latest_nps": None,
        "okendo_profile_skin_type": "x" * 255,
    }


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
