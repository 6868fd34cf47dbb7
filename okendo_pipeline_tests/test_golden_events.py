"""Golden test for the event stream: hand-written landing data, every expected event by hand.

Each expected event below was worked out by hand from the specification ("Events", "Fine print:
events"); comments say how.
Compared field by field: event_id, name, recipient, occurred_at and the parsed properties.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from okendo_pipeline.lib.catalogue import event_names, event_types
from okendo_pipeline_tests.runs import run_refresh
from okendo_pipeline_tests.samples import order_resource, write_landing
from okendo_pipeline_tests.samples import raw_envelope as env

Z = "T00:00:00Z"


def tier(tid: str, name: str, rank: int, threshold: str) -> dict:
    return {
        "tierId": tid,
        "name": name,
        "rank": rank,
        "spendThreshold": threshold,
        "currency": "USD",
    }


def member(
    seq: int,
    lcid: str,
    email: str,
    tier_name: str | None,
    entry: str | None,
    expiry: str | None,
    updated: str,
    enrolled: str,
) -> dict:
    return env(
        "loyalty_customer",
        seq,
        {
            "loyaltyCustomerId": lcid,
            "customer": {"email": email},
            "status": "enrolled",
            "dateEnrolled": enrolled,
            "vipTierName": tier_name,
            "vipTierEntryDate": entry,
            "vipTierExpiryDate": expiry,
            "dateUpdated": updated,
        },
        "create" if seq == 1 else "update",
    )


def order(seq: int, oid: str, email: str, created: str, total: str, status: str = "paid") -> dict:
    return env("order", seq, order_resource(oid, email, created, total, status))


def txn(rt: str, seq: int, tid: str, email: str, when: str, **fields) -> dict:
    return env(
        rt,
        seq,
        {
            "loyaltyTransactionId": tid,
            "loyaltyCustomerId": "lc",
            "customer": {"email": email},
            "status": fields.pop("status", "complete"),
            "date": when,
            **fields,
        },
    )


def referral(
    seq: int,
    rid: str,
    channel: str,
    recipient: dict,
    status: str,
    created: str,
    referrer_id: str = "rf-rio",
    **fields,
) -> dict:
    return env(
        "referral",
        seq,
        {
            "referralId": rid,
            "referrerId": referrer_id,
            "channel": channel,
            "locale": "fr",
            "recipient": recipient,
            "status": status,
            "dateCreated": created,
            **fields,
        },
    )


def write_golden(landing: Path) -> None:
    tia, jo = "tia@example.com", "jo@example.com"
    write_landing(
        landing,
        "loyalty_vip_tier",
        "a.jsonl",
        [
            env("loyalty_vip_tier", 1, tier("t0", "Bronze", 0, "0.00")),
            env("loyalty_vip_tier", 2, tier("t1", "Silver", 1, "100.00")),
            env("loyalty_vip_tier", 3, tier("t2", "Gold", 2, "500.00")),
        ],
    )
    enrolled = "2025-01-01" + Z
    write_landing(
        landing,
        "loyalty_customer",
        "a.jsonl",
        [
            member(1, "lc-tia", tia, "Bronze", "2025-01-01" + Z, None, "2025-01-01" + Z, enrolled),
            member(
                2,
                "lc-tia",
                tia,
                "Silver",
                "2025-03-01" + Z,
                "2026-03-01" + Z,
                "2025-03-02" + Z,
                enrolled,
            ),
            member(3, "lc-tia", tia, "Bronze", None, None, "2025-09-01T12:00:00.500Z", enrolled),
            member(4, "lc-tia", tia, "Diamond", "2025-10-01" + Z, None, "2025-10-01" + Z, enrolled),
            member(
                5,
                "lc-tia",
                tia,
                "Silver",
                "2025-11-01" + Z,
                "2026-11-01" + Z,
                "2025-11-01" + Z,
                enrolled,
            ),
            member(
                6, "lc-jo", jo, "Silver", "2025-06-01" + Z, None, "2025-06-01" + Z, "2025-06-01" + Z
            ),
        ],
    )
    write_landing(
        landing,
        "order",
        "a.jsonl",
        [
            order(1, "o1", tia, "2025-10-31T23:59:59Z", "300.00"),  # before the period
            order(2, "o2", tia, "2025-11-01" + Z, "250.00"),  # period start is inclusive: 250
            order(3, "o3", tia, "2025-11-05" + Z, "1000.00", "refunded"),  # not paid
            order(4, "o4", tia, "2025-11-10" + Z, "100.00"),  # 350 (70%)
            order(5, "o5", tia, "2025-11-20" + Z, "60.50"),  # 410.50: >= 400, < 500 -> nudge
            order(6, "o6", tia, "2025-12-01" + Z, "200.00"),  # 610: no second nudge
            order(7, "o7", jo, "2025-06-02" + Z, "100.00"),  # 20%
            order(8, "o8", jo, "2025-06-03" + Z, "450.00"),  # jumps to 110%: no nudge
        ],
    )
    same = "2025-02-01" + Z
    write_landing(
        landing,
        "loyalty_earning_transaction",
        "a.jsonl",
        [
            txn("loyalty_earning_transaction", 1, "t-b", tia, same, points=100, action="custom"),
            txn(
                "loyalty_earning_transaction",
                2,
                "t-c",
                tia,
                same,
                points=10,
                action="wrote-review",
                description="Review reward",
            ),
            txn(
                "loyalty_earning_transaction",
                3,
                "t-d",
                tia,
                same,
                points=999,
                action="custom",
                status="pending",
            ),
        ],
    )
    write_landing(
        landing,
        "loyalty_redemption_transaction",
        "a.jsonl",
        [
            txn(
                "loyalty_redemption_transaction",
                1,
                "t-a",
                tia,
                same,
                pointsSpent=30,
                rewardType="store-credit",
                storeCreditAmount=2.499,
            ),
        ],
    )
    write_landing(
        landing,
        "loyalty_adjustment_transaction",
        "a.jsonl",
        [
            txn(
                "loyalty_adjustment_transaction",
                1,
                "t-c",
                tia,
                same,
                amount=5,
                internalReason="Goodwill",
                notificationText="Thanks",
            ),
        ],
    )
    write_landing(
        landing,
        "referrer",
        "a.jsonl",
        [
            env(
                "referrer",
                1,
                {
                    "referrerId": "rf-rio",
                    "customer": {
                        "email": "Rio@Example.com",
                        "givenName": "Rio",
                        "familyName": "Grande",
                    },
                    "shareableLink": "https://x/r/rio",
                    "locale": "fr",
                    "dateOptedIn": "2025-04-01" + Z,
                },
            ),
        ],
    )
    write_landing(
        landing,
        "referral",
        "a.jsonl",
        [
            referral(
                1,
                "rl-e",
                "email",
                {"email": "Sam@Example.com", "givenName": "Sam"},
                "succeeded",
                "2025-05-01" + Z,
                dateOptedIn="2025-05-02" + Z,
                dateSucceeded="2025-05-10" + Z,
                referrerCoupon={
                    "code": "RC1",
                    "dateIssued": "2025-05-10" + Z,
                    "dateRedeemed": "2025-05-20" + Z,
                },
                recipientCoupon={"code": "PC1", "dateIssued": "2025-05-02" + Z},
            ),
            referral(
                2,
                "rl-l",
                "shareable-link",
                {"email": "lee@example.com"},
                "opted-in",
                "2025-06-01" + Z,
                dateOptedIn="2025-06-01T10:00:00Z",
            ),
            referral(
                3,
                "rl-x",
                "email",
                {"email": "max@example.com"},
                "rejected",
                "2025-07-01" + Z,
                dateRejected="2025-07-03" + Z,
                rejectionReason="self-referral",
            ),
            referral(
                4,
                "rl-o",
                "email",
                {"email": "kim@example.com"},
                "invited",
                "2025-08-01" + Z,
                referrer_id="rf-gone",
            ),
        ],
    )
    ned = "ned@example.com"
    write_landing(
        landing,
        "review",
        "a.jsonl",
        [
            env(
                "review",
                1,
                {
                    "reviewId": "rv1",
                    "productId": "shopify-1",
                    "productName": "Serum",
                    "productUrl": "https://x/p/serum",
                    "rating": 4,
                    "title": "T",
                    "body": "B",
                    "isRecommended": True,
                    "sentiment": "mixed",
                    "status": "pending",
                    "languageCode": "en",
                    "dateCreated": "2025-01-20T08:30:00.250Z",
                    "achievedReward": "coupon",
                    "order": {"orderId": "77", "orderNumber": "#77"},
                    "media": [
                        {"type": "image", "url": "a.jpg"},
                        {"type": "video", "url": "v.mp4"},
                        {"type": "image", "url": "b.jpg"},
                    ],
                    "reviewer": {"email": ned, "verifiedStatus": "verified-buyer"},
                },
            ),
        ],
    )
    write_landing(
        landing,
        "review_request",
        "a.jsonl",
        [
            env(
                "review_request",
                1,
                {
                    "reviewRequestId": "rq1",
                    "customer": {"email": ned, "givenName": "Ned", "familyName": "Stark"},
                    "order": {"orderId": "77", "orderNumber": "#77"},
                    "products": [
                        {
                            "productId": "shopify-1",
                            "name": "Serum",
                            "imageUrl": "I",
                            "reviewUrl": "R",
                        }
                    ],
                    "status": "cancelled",
                    "dateCreated": "2025-01-10" + Z,
                    "dateCancelled": "2025-01-12" + Z,
                },
            ),
        ],
    )
    write_landing(
        landing,
        "quiz_response",
        "a.jsonl",
        [
            env(
                "quiz_response",
                1,
                {
                    "quizResponseId": "qz1",
                    "quizId": "quiz",
                    "quizName": "Routine",
                    "customer": {"email": ned},
                    "dateSubmitted": "2025-01-05" + Z,
                    "answers": [{"question": "Q", "answer": "A"}],
                    "recommendedProducts": [{"productId": "p", "name": "n"}],
                },
            ),
        ],
    )
    write_landing(
        landing,
        "survey_response",
        "a.jsonl",
        [
            env(
                "survey_response",
                1,
                {
                    "surveyResponseId": "sv1",
                    "surveyId": "s",
                    "surveyName": "Post purchase",
                    "customer": {"email": ned},
                    "dateSubmitted": "2025-01-25" + Z,
                    "order": {"orderId": "77", "orderNumber": "#77"},
                    "answers": [
                        {"questionType": "text", "title": "Why", "value": "ok"},
                        {"questionType": "nps", "title": "NPS", "value": 8},
                    ],
                },
            ),
        ],
    )


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


# (event_id, event_name, customer_key, occurred_at, properties)
EXPECTED: list[tuple[str, str, str, datetime, dict[str, Any]]] = [
    # enrolment: one per current enrolled member with dateEnrolled
    (
        "loyalty-enrolled:lc-tia",
        "Enrolled in Okendo Loyalty",
        "tia@example.com",
        ts("2025-01-01 00:00:00"),
        {},
    ),
    (
        "loyalty-enrolled:lc-jo",
        "Enrolled in Okendo Loyalty",
        "jo@example.com",
        ts("2025-06-01 00:00:00"),
        {},
    ),
    # ledger at one instant: t-a (redemption, -30) sorts before t-b (+100) by id; at t-c the
    # earning (+10) comes before the adjustment (+5): balances -30, 70, 80, 85
    (
        "loyalty-awarded:t-b",
        "Okendo Loyalty Points Awarded",
        "tia@example.com",
        ts("2025-02-01 00:00:00"),
        {
            "activity_id": "t-b",
            "points": 100,
            "action": "custom",
            "description": None,
            "points_balance": 70,
        },
    ),
    (
        "loyalty-awarded:t-c",
        "Okendo Loyalty Points Awarded",
        "tia@example.com",
        ts("2025-02-01 00:00:00"),
        {
            "activity_id": "t-c",
            "points": 10,
            "action": "wrote-review",
            "description": "Review reward",
            "points_balance": 80,
        },
    ),
    (
        "loyalty-redeemed:t-a",
        "Okendo Loyalty Points Redeemed",
        "tia@example.com",
        ts("2025-02-01 00:00:00"),
        {
            "activity_id": "t-a",
            "points_spent": 30,
            "reward_type": "store-credit",
            "coupon_code": None,
            "coupon_description": None,
            "coupon_expiry_date": None,
            "store_credit_amount": 2.5,
        },
    ),
    (
        "loyalty-adjusted:t-c",
        "Okendo Loyalty Points Adjusted",
        "tia@example.com",
        ts("2025-02-01 00:00:00"),
        {"activity_id": "t-c", "points": 5, "reason": "Goodwill", "description": "Thanks"},
    ),
    # tier changes between consecutive versions; occurred at the new entry date, else dateUpdated
    (
        "loyalty-tier-changed:lc-tia:Silver:2025-03-01T00:00:00.000000Z",
        "Okendo Loyalty Tier Changed",
        "tia@example.com",
        ts("2025-03-01 00:00:00"),
        {
            "previous_tier": "Bronze",
            "new_tier": "Silver",
            "direction": "upgrade",
            "tier_expiry_date": "2026-03-01T00:00:00Z",
        },
    ),
    (
        "loyalty-tier-changed:lc-tia:Bronze:2025-09-01T12:00:00.500000Z",
        "Okendo Loyalty Tier Changed",
        "tia@example.com",
        ts("2025-09-01 12:00:00.500000"),
        {
            "previous_tier": "Silver",
            "new_tier": "Bronze",
            "direction": "downgrade",
            "tier_expiry_date": None,
        },
    ),
    # Diamond is no tier: direction null both ways
    (
        "loyalty-tier-changed:lc-tia:Diamond:2025-10-01T00:00:00.000000Z",
        "Okendo Loyalty Tier Changed",
        "tia@example.com",
        ts("2025-10-01 00:00:00"),
        {
            "previous_tier": "Bronze",
            "new_tier": "Diamond",
            "direction": None,
            "tier_expiry_date": None,
        },
    ),
    (
        "loyalty-tier-changed:lc-tia:Silver:2025-11-01T00:00:00.000000Z",
        "Okendo Loyalty Tier Changed",
        "tia@example.com",
        ts("2025-11-01 00:00:00"),
        {
            "previous_tier": "Diamond",
            "new_tier": "Silver",
            "direction": None,
            "tier_expiry_date": "2026-11-01T00:00:00Z",
        },
    ),
    # Silver period from 2025-11-01: 250 + 100 + 60.50 = 410.50 >= 400 (80% of Gold's 500)
    (
        "loyalty-tier-nudge:lc-tia:t2:2025-11-01T00:00:00.000000Z",
        "Okendo Loyalty Tier Upgrade Nudge",
        "tia@example.com",
        ts("2025-11-20 00:00:00"),
        {
            "current_tier": "Silver",
            "next_tier": "Gold",
            "spend_to_date": 410.5,
            "next_tier_threshold": 500.0,
            "amount_to_next_tier": 89.5,
            "currency": "USD",
        },
    ),
    # referrals
    (
        "referral-opt-in:referrer:rf-rio",
        "Opted In to Okendo Referrals",
        "rio@example.com",
        ts("2025-04-01 00:00:00"),
        {"customer_role": "referrer", "locale": "fr", "shareable_link": "https://x/r/rio"},
    ),
    (
        "referral-opt-in:recipient:rl-e",
        "Opted In to Okendo Referrals",
        "sam@example.com",
        ts("2025-05-02 00:00:00"),
        {
            "customer_role": "recipient",
            "locale": "fr",
            "referral_id": "rl-e",
            "referrer_first_name": "Rio",
            "referrer_email": "Rio@Example.com",
        },
    ),
    (
        "referral-sent:rl-e",
        "Sent Okendo Referral",
        "rio@example.com",
        ts("2025-05-01 00:00:00"),
        {
            "referral_id": "rl-e",
            "locale": "fr",
            "recipient_email": "Sam@Example.com",
            "recipient_first_name": "Sam",
        },
    ),
    (
        "referral-invitation:rl-e",
        "Okendo Referral Invitation",
        "sam@example.com",
        ts("2025-05-01 00:00:00"),
        {
            "referral_id": "rl-e",
            "locale": "fr",
            "referrer_first_name": "Rio",
            "referrer_last_name": "Grande",
            "referrer_email": "Rio@Example.com",
        },
    ),
    (
        "referral-coupon-received:referrer:rl-e",
        "Received Okendo Referral Coupon",
        "rio@example.com",
        ts("2025-05-10 00:00:00"),
        {"referral_id": "rl-e", "customer_role": "referrer", "coupon_code": "RC1", "locale": "fr"},
    ),
    (
        "referral-coupon-received:recipient:rl-e",
        "Received Okendo Referral Coupon",
        "sam@example.com",
        ts("2025-05-02 00:00:00"),
        {"referral_id": "rl-e", "customer_role": "recipient", "coupon_code": "PC1", "locale": "fr"},
    ),
    (
        "referral-coupon-redeemed:referrer:rl-e",
        "Redeemed Okendo Referral Coupon",
        "rio@example.com",
        ts("2025-05-20 00:00:00"),
        {"referral_id": "rl-e", "customer_role": "referrer", "coupon_code": "RC1"},
    ),
    # link channel: only Shareable Link Used
    (
        "referral-link-used:rl-l",
        "Okendo Referral Shareable Link Used",
        "lee@example.com",
        ts("2025-06-01 10:00:00"),
        {
            "referral_id": "rl-l",
            "locale": "fr",
            "referrer_first_name": "Rio",
            "referrer_email": "Rio@Example.com",
        },
    ),
    (
        "referral-sent:rl-x",
        "Sent Okendo Referral",
        "rio@example.com",
        ts("2025-07-01 00:00:00"),
        {
            "referral_id": "rl-x",
            "locale": "fr",
            "recipient_email": "max@example.com",
            "recipient_first_name": None,
        },
    ),
    (
        "referral-invitation:rl-x",
        "Okendo Referral Invitation",
        "max@example.com",
        ts("2025-07-01 00:00:00"),
        {
            "referral_id": "rl-x",
            "locale": "fr",
            "referrer_first_name": "Rio",
            "referrer_last_name": "Grande",
            "referrer_email": "Rio@Example.com",
        },
    ),
    (
        "referral-rejected:rl-x",
        "Okendo Referral Rejected",
        "rio@example.com",
        ts("2025-07-03 00:00:00"),
        {
            "referral_id": "rl-x",
            "recipient_email": "max@example.com",
            "rejection_reason": "self-referral",
        },
    ),
    # no current referrer record: the recipient's invitation only, referrer fields null
    (
        "referral-invitation:rl-o",
        "Okendo Referral Invitation",
        "kim@example.com",
        ts("2025-08-01 00:00:00"),
        {
            "referral_id": "rl-o",
            "locale": "fr",
            "referrer_first_name": None,
            "referrer_last_name": None,
            "referrer_email": None,
        },
    ),
    # reviews, requests, quizzes, surveys
    (
        "review-created:rv1",
        "Okendo Review Created",
        "ned@example.com",
        ts("2025-01-20 08:30:00.250000"),
        {
            "review_id": "rv1",
            "product_id": "shopify-1",
            "product_name": "Serum",
            "product_url": "https://x/p/serum",
            "rating": 4,
            "title": "T",
            "body": "B",
            "is_recommended": True,
            "overall_sentiment": "mixed",
            "language_code": "en",
            "photo_count": 2,
            "photo_urls": ["a.jpg", "b.jpg"],
            "video_count": 1,
            "verified_status": "verified-buyer",
            "achieved_reward": "coupon",
            "order_id": "77",
        },
    ),
    (
        "review-request:rq1",
        "Okendo Review Request",
        "ned@example.com",
        ts("2025-01-10 00:00:00"),
        {
            "review_request_id": "rq1",
            "order_id": "77",
            "order_number": "#77",
            "first_name": "Ned",
            "last_name": "Stark",
            "products": [
                {"product_id": "shopify-1", "name": "Serum", "image_url": "I", "review_url": "R"}
            ],
        },
    ),
    (
        "review-request-cancelled:rq1",
        "Okendo Review Request Cancelled",
        "ned@example.com",
        ts("2025-01-12 00:00:00"),
        {"review_request_id": "rq1", "order_id": "77"},
    ),
    (
        "quiz:qz1",
        "Submitted Okendo Quiz",
        "ned@example.com",
        ts("2025-01-05 00:00:00"),
        {
            "quiz_response_id": "qz1",
            "quiz_id": "quiz",
            "quiz_name": "Routine",
            "answers": [{"question": "Q", "answer": "A"}],
            "recommended_products": [
                {"product_id": "p", "name": "n", "url": None, "image_url": None}
            ],
        },
    ),
    (
        "survey:sv1",
        "Submitted Okendo Survey",
        "ned@example.com",
        ts("2025-01-25 00:00:00"),
        {
            "survey_response_id": "sv1",
            "survey_id": "s",
            "survey_name": "Post purchase",
            "nps_score": 8,
            "nps_category": "passive",
            "order_id": "77",
            "answers": [{"question": "Why", "value": "ok"}, {"question": "NPS", "value": 8}],
        },
    ),
]


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("golden-events")
    write_golden(root / "landing")
    database = root / "okendo.duckdb"
    assert run_refresh(root / "landing", database, as_of="2026-03-01").success
    conn = duckdb.connect(str(database), read_only=True)
    assert conn.execute("select count(*) from raw.rejected_records").fetchone() == (0,)
    rows = conn.execute(
        "select event_id, event_name, customer_key, occurred_at, properties "
        "from marts.customer_events"
    ).fetchall()
    described = described_columns(conn)
    conn.close()
    events_by_id = {r[0]: (r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows}
    return {"events": events_by_id, "undescribed": described}


def described_columns(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Columns of the staging and mart relations that have no description in the dbt YAML."""
    dbt_dir = Path(__file__).resolve().parents[1] / "dbt_project" / "models"
    described: set[tuple[str, str, str]] = set()
    for schema, path in (
        ("staging", "staging/okendo/_okendo__models.yml"),
        ("marts", "marts/_marts__models.yml"),
    ):
        for model in yaml.safe_load((dbt_dir / path).read_text())["models"]:
            for column in model.get("columns", []):
                if column.get("description"):
                    described.add((schema, model["name"], column["name"]))
    rows = conn.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_schema in ('staging', 'marts')"
    ).fetchall()
    return sorted(".".join(r) for r in rows if tuple(r) not in described)


def test_exactly_the_expected_events(events) -> None:
    assert sorted(events["events"]) == sorted(e[0] for e in EXPECTED)


def test_the_hand_computed_events_cover_the_catalogue() -> None:
    """Every event type of the catalogue (the dbt seed) has a hand-computed case, and every
    case carries exactly the catalogue's properties for its name and variant."""
    types = {(t.name, t.variant): set(t.properties) for t in event_types()}
    covered = set()
    for _, name, _, _, props in EXPECTED:
        variant = props.get("customer_role") if (name, None) not in types else None
        assert set(props) == types[(name, variant)], (name, variant)
        covered.add((name, variant))
    assert covered == set(types) and len(event_names()) == 18


def test_every_analyst_facing_column_is_described(events) -> None:
    assert events["undescribed"] == []


@pytest.mark.parametrize("expected", EXPECTED, ids=[e[0] for e in EXPECTED])
def test_event_matches_hand_computed_values(events, expected) -> None:
    assert events["events"].get(expected[0]) == expected
