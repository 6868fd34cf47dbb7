"""Each contract rule, checked through the pydantic models, with the message a user reads."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from okendo_pipeline.lib.okendo.contract.models import Order, Review
from okendo_pipeline.lib.okendo.contract.validation import check_line
from okendo_pipeline_tests.samples import VALID, envelope, resource


def reason(env: dict | str, folder: str | None = None) -> str | None:
    text = env if isinstance(env, str) else json.dumps(env)
    folder = folder or (env["resourceType"] if isinstance(env, dict) else "review")
    return check_line(text, folder).reason


@pytest.mark.parametrize("resource_type", sorted(VALID))
def test_every_valid_sample_is_accepted(resource_type: str) -> None:
    assert reason(envelope(resource_type, 1)) is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ("{not json", "line is not valid JSON"),
        ("[1, 2]", "line is not a JSON object"),
        ("NaN", "line is not valid JSON"),
        (
            {**envelope("review", 1), "resourceType": "tweet"},
            "resourceType: must be one of the 13 Okendo resource types",
        ),
        (
            {**envelope("review", 1), "topic": "upsert"},
            "topic: must be one of: create, update, delete",
        ),
        (
            {**envelope("review", 1), "sequenceNumber": "12a"},
            "sequenceNumber: must be a string of digits",
        ),
        (
            {**envelope("review", 1), "sequenceNumber": 12},
            "sequenceNumber: must be a string of digits",
        ),
        (
            {**envelope("review", 1), "sequenceNumber": "1" * 39},
            "sequenceNumber: must be a string of digits",
        ),
        ({**envelope("review", 1), "resource": "text"}, "resource: must be an object"),
        (
            {k: v for k, v in envelope("review", 1).items() if k != "resource"},
            "resource: is missing or null",
        ),
        (envelope("review", 1, reviewId=""), "resource.reviewId: must be a non-empty string"),
        (envelope("review", 1, reviewId=7), "resource.reviewId: must be a non-empty string"),
        (envelope("review", 1, productName=...), "resource.productName: is missing or null"),
        (envelope("review", 1, productName=None), "resource.productName: is missing or null"),
        (envelope("review", 1, rating=6), "resource.rating: must be an integer from 1 to 5"),
        (envelope("review", 1, rating=0), "resource.rating: must be an integer from 1 to 5"),
        (envelope("review", 1, rating=4.0), "resource.rating: must be an integer from 1 to 5"),
        (envelope("review", 1, rating="5"), "resource.rating: must be an integer from 1 to 5"),
        (
            envelope("review", 1, sentiment="happy"),
            "resource.sentiment: must be one of: positive, negative, neutral, mixed",
        ),
        (
            envelope("review", 1, status="live"),
            "resource.status: must be one of: approved, pending, rejected",
        ),
        (
            envelope("review", 1, achievedReward="cash"),
            "resource.achievedReward: must be one of: coupon, loyalty",
        ),
        (
            envelope("review", 1, media=[{"type": "image"}, {"type": "gif"}]),
            "resource.media[1].type: must be one of: image, video",
        ),
        (envelope("review", 1, media="none"), "resource.media: must be a list"),
        (
            envelope("review", 1, dateCreated="2025-03-01T10:15:30"),
            "resource.dateCreated: must be an ISO 8601 timestamp with a zone (Z or +HH:MM)",
        ),
        (
            envelope("review", 1, dateCreated="2025-02-30T10:15:30Z"),
            "resource.dateCreated: must be an ISO 8601 timestamp with a zone (Z or +HH:MM)",
        ),
        (
            envelope("review", 1, reviewer={"email": "not-an-email"}),
            "resource.reviewer.email: must be an email address",
        ),
        (
            envelope("review", 1, reviewer={"displayName": "Ada"}),
            "resource.reviewer.email: is missing or null",
        ),
        (envelope("review", 1, reviewer=None), "resource.reviewer: is missing or null"),
        (
            envelope("customer", 1, email="ada at example.com"),
            "resource.email: must be an email address",
        ),
        (
            envelope("survey_response", 1, answers=[{"questionType": "nps", "value": 11}]),
            "resource.answers[0].value: must be an integer from 0 to 10 when questionType is nps",
        ),
        (
            envelope("survey_response", 1, answers=[{"questionType": "nps", "value": None}]),
            "resource.answers[0].value: must be an integer from 0 to 10 when questionType is nps",
        ),
        (
            envelope("survey_response", 1, answers=[{"questionType": "slider", "value": 3}]),
            "resource.answers[0].questionType: must be one of: nps, rating, single-choice, "
            "multiple-choice, text, date",
        ),
        (
            envelope("loyalty_earning_transaction", 1, points=0),
            "resource.points: must be a positive integer",
        ),
        (
            envelope("loyalty_redemption_transaction", 1, pointsSpent=-3),
            "resource.pointsSpent: must be a positive integer",
        ),
        (
            envelope("loyalty_redemption_transaction", 1, rewardType="cash"),
            "resource.rewardType: must be one of: coupon, store-credit",
        ),
        (
            envelope("loyalty_adjustment_transaction", 1, amount=0),
            "resource.amount: must be a non-zero integer",
        ),
        (
            envelope("loyalty_adjustment_transaction", 1, amount=2.5),
            "resource.amount: must be a non-zero integer",
        ),
        (
            envelope("loyalty_earning_transaction", 1, status="done"),
            "resource.status: must be one of: complete, pending, cancelled",
        ),
        (envelope("loyalty_vip_tier", 1, rank=-1), "resource.rank: must be a non-negative integer"),
        (
            envelope("loyalty_vip_tier", 1, spendThreshold="lots"),
            "resource.spendThreshold: must be a decimal number",
        ),
        (envelope("order", 1, totalPrice="12,50"), "resource.totalPrice: must be a decimal number"),
        (
            envelope("order", 1, financialStatus="pending"),
            "resource.financialStatus: must be one of: paid, refunded",
        ),
        (
            envelope("referral", 1, channel="sms"),
            "resource.channel: must be one of: email, shareable-link",
        ),
        (
            envelope("referral", 1, status="won"),
            "resource.status: must be one of: invited, opted-in, succeeded, rejected",
        ),
        (
            envelope("referral", 1, order={"totalPrice": "free"}),
            "resource.order.totalPrice: must be a decimal number",
        ),
        (
            envelope("referral", 1, recipient={"email": ""}),
            "resource.recipient.email: must be an email address",
        ),
        (envelope("referrer", 1, dateOptedIn=None), "resource.dateOptedIn: is missing or null"),
    ],
)
def test_rule_and_its_message(env: dict | str, expected: str) -> None:
    assert reason(env) == expected


def test_folder_must_match_resource_type() -> None:
    assert reason(envelope("order", 1), folder="review") == (
        "resourceType: 'order' does not match its folder 'review'"
    )


def test_several_problems_are_all_named_in_field_order() -> None:
    got = reason(envelope("review", 1, rating=9, status=None, reviewer={"email": "x"}))
    assert got == (
        "resource.rating: must be an integer from 1 to 5; resource.status: is missing or null; "
        "resource.reviewer.email: must be an email address"
    )


def test_delete_needs_only_its_id() -> None:
    assert reason(envelope("review", 1, topic="delete", res={"reviewId": "r-1"})) is None
    assert (
        reason(envelope("review", 1, topic="delete", res={}))
        == "resource.reviewId: is missing or null"
    )


def test_optional_timestamp_without_zone_counts_as_absent() -> None:
    checked = check_line(
        json.dumps(envelope("loyalty_customer", 1, dateEnrolled="2025-03-01")), "loyalty_customer"
    )
    assert checked.ok
    assert checked.model.date_enrolled is None


def test_values_are_typed_and_unknown_fields_kept() -> None:
    checked = check_line(
        json.dumps(
            envelope(
                "order",
                1,
                totalPrice="19.99",
                giftWrap=True,
                dateCreated="2025-03-01T12:00:00+02:00",
            )
        ),
        "order",
    )
    order = checked.model
    assert isinstance(order, Order)
    assert order.total_price == Decimal("19.99")
    assert order.date_created.isoformat() == "2025-03-01T10:00:00+00:00"
    assert order.model_extra == {"giftWrap": True}


def test_number_price_and_spaced_email_are_accepted() -> None:
    assert reason(envelope("order", 1, totalPrice=12)) is None
    assert reason(envelope("customer", 1, email="  Ada@Example.COM ")) is None
    review = Review.model_validate(resource("review", sentiment=None))
    assert review.sentiment is None
