"""Golden test: hand-written landing data, hand-computed profiles, compared field by field.

Every expected value below was worked out by hand from the specification ("Profiles", "Fine
print: profiles"); the comments say how. The pipeline runs as the nightly job does (ingestion,
then dbt build) with as_of fixed.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from okendo_pipeline_tests.runs import run_refresh
from okendo_pipeline_tests.samples import order_resource, write_landing
from okendo_pipeline_tests.samples import raw_envelope as env

AS_OF = "2026-03-01"


def review(rid: str, email: str, rating: int, created: str, sentiment: str | None) -> dict:
    return {
        "reviewId": rid,
        "productId": "shopify-1",
        "productName": "Serum",
        "rating": rating,
        "sentiment": sentiment,
        "status": "approved",
        "dateCreated": created,
        "reviewer": {"email": email},
    }


def survey(sid: str, email: str, submitted: str, answers: list[dict]) -> dict:
    return {
        "surveyResponseId": sid,
        "surveyId": "sv",
        "surveyName": "Post purchase",
        "customer": {"email": email},
        "dateSubmitted": submitted,
        "answers": answers,
    }


def txn(kind: str, tid: str, email: str, date_: str, status: str = "complete", **fields) -> dict:
    return {
        "loyaltyTransactionId": tid,
        "loyaltyCustomerId": "lc",
        "customer": {"email": email},
        "status": status,
        "date": date_,
        **fields,
    }


def order(oid: str, email: str, created: str, status: str = "paid", total: str = "10.00") -> dict:
    return order_resource(oid, email, created, total, status)


def referral(rid: str, status: str, recipient: str, **fields) -> dict:
    return {
        "referralId": rid,
        "referrerId": "rf-ada",
        "channel": "email",
        "locale": "en",
        "recipient": {"email": recipient},
        "status": status,
        "dateCreated": "2025-06-01T00:00:00Z",
        **fields,
    }


def write_golden(landing: Path) -> None:
    ada = "ada@example.com"
    write_landing(
        landing,
        "customer",
        "a.jsonl",
        [
            env(
                "customer",
                1,
                {
                    "customerId": "c-ada",
                    "email": "Ada@Example.com",
                    "givenName": "Ada",
                    "familyName": "Byron",
                    "shopifyCustomerId": "123",
                    "dateCreated": "2024-01-01T00:00:00Z",
                },
            ),
            # a later version renames her: the current record wins
            env(
                "customer",
                2,
                {
                    "customerId": "c-ada",
                    "email": "Ada@Example.com",
                    "givenName": "Ada",
                    "familyName": "Lovelace",
                    "shopifyCustomerId": "123",
                    "dateCreated": "2024-01-01T00:00:00Z",
                },
                "update",
            ),
            env(
                "customer",
                3,
                {
                    "customerId": "c-eve",
                    "email": "eve@example.com",
                    "shopifyCustomerId": "",
                    "dateCreated": "2024-01-01T00:00:00Z",
                },
            ),
        ],
    )
    write_landing(
        landing,
        "review",
        "a.jsonl",
        [
            env("review", 1, review("r1", ada, 5, "2025-01-01T00:00:00Z", "positive")),
            # r2 and r3 share the latest dateCreated: the greater reviewId (r3) is the latest
            env(
                "review", 2, review("r2", "ADA@example.com ", 4, "2025-02-01T00:00:00Z", "negative")
            ),
            env("review", 3, review("r3", ada, 2, "2025-02-01T00:00:00.000+00:00", "neutral")),
            # deleted later: counts nowhere
            env("review", 4, review("r4", ada, 1, "2025-03-01T00:00:00Z", "negative")),
            env("review", 5, {"reviewId": "r4"}, "delete"),
            # Eve: one review without sentiment
            env("review", 6, review("r5", "eve@example.com", 3, "2025-01-01T00:00:00Z", None)),
        ],
    )
    nps = {"questionId": "q1", "questionType": "nps", "title": "Recommend?"}
    write_landing(
        landing,
        "survey_response",
        "a.jsonl",
        [
            env(
                "survey_response",
                1,
                survey(
                    "s1",
                    ada,
                    "2025-05-01T08:00:00Z",
                    [
                        {
                            "questionId": "q0",
                            "questionType": "text",
                            "title": "Why?",
                            "value": "ok",
                        },
                        {**nps, "value": 6},
                        {**nps, "value": 10},  # the first nps answer counts
                    ],
                ),
            ),
            # later, but no nps answer: not the latest NPS, still counted
            env(
                "survey_response",
                2,
                survey(
                    "s2",
                    ada,
                    "2025-06-01T00:00:00Z",
                    [{"questionId": "q0", "questionType": "text", "title": "Why?", "value": None}],
                ),
            ),
            env(
                "survey_response",
                3,
                survey("s3", ada, "2025-04-01T00:00:00Z", [{**nps, "value": 10}]),
            ),
        ],
    )
    write_landing(
        landing,
        "loyalty_customer",
        "a.jsonl",
        [
            env(
                "loyalty_customer",
                1,
                {
                    "loyaltyCustomerId": "lc-ada",
                    "customer": {"email": ada},
                    "status": "enrolled",
                    "dateEnrolled": "2024-01-15T10:00:00Z",
                    "birthday": {"day": 29, "month": 2},
                    "vipTierName": "Gold",
                    "vipTierExpiryDate": "2026-12-31T00:00:00Z",
                    "dateUpdated": "2024-03-01T00:00:00Z",
                },
            ),
            env(
                "loyalty_customer",
                2,
                {
                    "loyaltyCustomerId": "lc-cat",
                    "customer": {"email": "cat@example.com"},
                    "status": "pending",
                    "birthday": {"day": 31, "month": 4},
                    "vipTierName": "Silver",
                    "dateEnrolled": "2025-01-01",
                    "dateUpdated": "2025-10-10T00:00:00Z",
                },
            ),
            env(
                "loyalty_customer",
                3,
                {
                    "loyaltyCustomerId": "lc-eve",
                    "customer": {"email": "eve@example.com"},
                    "status": "enrolled",
                    "dateEnrolled": "2025-02-01T23:30:00-02:00",
                    "birthday": {"day": 2, "month": 3},
                    "dateUpdated": "2025-02-02T00:00:00Z",
                },
            ),
        ],
    )
    write_landing(
        landing,
        "loyalty_earning_transaction",
        "a.jsonl",
        [
            env(
                "loyalty_earning_transaction",
                1,
                txn("e", "e1", ada, "2024-01-10T00:00:00Z", points=100, action="placed-order"),
            ),
            env(
                "loyalty_earning_transaction",
                2,
                txn("e", "e2", ada, "2024-06-10T00:00:00Z", "pending", points=50, action="custom"),
            ),
            env(
                "loyalty_earning_transaction",
                3,
                txn(
                    "e",
                    "e3",
                    "cat@example.com",
                    "2025-10-10T00:00:00Z",
                    points=20,
                    action="signed-up",
                ),
            ),
            # Dan has points but no membership: not in the program
            env(
                "loyalty_earning_transaction",
                4,
                txn(
                    "e", "e4", "dan@example.com", "2025-10-10T00:00:00Z", points=20, action="custom"
                ),
            ),
        ],
    )
    write_landing(
        landing,
        "loyalty_redemption_transaction",
        "a.jsonl",
        [
            env(
                "loyalty_redemption_transaction",
                1,
                txn("r", "x1", ada, "2024-02-29T10:00:00Z", pointsSpent=30, rewardType="coupon"),
            ),
        ],
    )
    write_landing(
        landing,
        "loyalty_adjustment_transaction",
        "a.jsonl",
        [
            env(
                "loyalty_adjustment_transaction",
                1,
                txn("a", "a1", ada, "2024-02-20T00:00:00Z", amount=-5),
            ),
        ],
    )
    write_landing(
        landing,
        "order",
        "a.jsonl",
        [
            env("order", 1, order("o1", ada, "2024-01-05T00:00:00Z")),
            # refunded: not an activity for expiry
            env("order", 2, order("o2", ada, "2024-06-01T00:00:00Z", "refunded")),
            env("order", 3, order("o3", " Dan@Example.COM ", "2025-01-01T00:00:00Z")),
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
                    "referrerId": "rf-ada",
                    "customer": {"email": ada},
                    "shareableLink": "https://x/r/ada",
                    "locale": "en",
                    "dateOptedIn": "2025-05-01T00:00:00Z",
                },
            ),
            env(
                "referrer",
                2,
                {
                    "referrerId": "rf-cat",
                    "customer": {"email": "cat@example.com"},
                    "shareableLink": "https://x/r/cat",
                    "locale": "en",
                    "dateOptedIn": "2025-05-01T00:00:00Z",
                },
            ),
        ],
    )
    write_landing(
        landing,
        "referral",
        "a.jsonl",
        [
            env(
                "referral",
                1,
                referral(
                    "rl1",
                    "succeeded",
                    "bob@example.com",
                    dateSucceeded="2025-07-01T12:00:00Z",
                    order={"orderId": "9", "totalPrice": "10.10", "currency": "USD"},
                ),
            ),
            env(
                "referral",
                2,
                referral(
                    "rl2",
                    "succeeded",
                    "bob@example.com",
                    dateSucceeded="2025-08-01T23:59:59Z",
                    order={"orderId": "10", "totalPrice": "20.205", "currency": "USD"},
                ),
            ),
            # succeeded without a date and without an order: counts, adds no date and 0 revenue
            env("referral", 3, referral("rl3", "succeeded", "zed@example.com")),
            env("referral", 4, referral("rl4", "invited", "zed@example.com")),
        ],
    )


NULL_PROFILE: dict[str, Any] = {
    "okendo_given_name": None,
    "okendo_family_name": None,
    "okendo_number_of_reviews": 0,
    "okendo_average_review_rating": None,
    "okendo_latest_review_rating": None,
    "okendo_latest_review_sentiment": None,
    "okendo_average_review_sentiment": None,
    "okendo_number_of_survey_responses": 0,
    "okendo_latest_nps": None,
    "okendo_latest_nps_category": None,
    "okendo_latest_nps_date": None,
    "okendo_referral_shareable_link": None,
    "okendo_number_of_successful_referrals": 0,
    "okendo_latest_successful_referral_date": None,
    "okendo_total_successful_referral_revenue": None,
    "okendo_loyalty_program_status": None,
    "okendo_loyalty_enrolment_date": None,
    "okendo_loyalty_points_balance": None,
    "okendo_loyalty_points_expiry_date": None,
    "okendo_loyalty_next_birthday_date": None,
    "okendo_loyalty_vip_tier": None,
    "okendo_loyalty_vip_tier_expiry_date": None,
}

EXPECTED: dict[str, dict[str, Any]] = {
    "ada@example.com": {
        **NULL_PROFILE,
        "email": "Ada@Example.com",
        "shopify_customer_id": "123",
        "okendo_given_name": "Ada",
        "okendo_family_name": "Lovelace",
        # r1 5, r2 4, r3 2 (r4 deleted): mean 11/3 = 3.666.. -> 3.67
        "okendo_number_of_reviews": 3,
        "okendo_average_review_rating": 3.67,
        # r2/r3 tie on dateCreated: r3 is latest -> 2, neutral
        "okendo_latest_review_rating": 2,
        "okendo_latest_review_sentiment": "neutral",
        # (1 - 1 + 0) / 3 = 0, both positive and negative present -> mixed
        "okendo_average_review_sentiment": "mixed",
        # s2 has no nps; s1 (May) beats s3 (April); its first nps answer is 6
        "okendo_number_of_survey_responses": 3,
        "okendo_latest_nps": 6,
        "okendo_latest_nps_category": "detractor",
        "okendo_latest_nps_date": date(2025, 5, 1),
        # rl1, rl2, rl3 succeeded; revenue 10.10 + 20.205 = 30.305 -> 30.31 (exact decimal)
        "okendo_referral_shareable_link": "https://x/r/ada",
        "okendo_number_of_successful_referrals": 3,
        "okendo_latest_successful_referral_date": date(2025, 8, 1),
        "okendo_total_successful_referral_revenue": Decimal("30.31"),
        "okendo_loyalty_program_status": "enrolled",
        "okendo_loyalty_enrolment_date": date(2024, 1, 15),
        # 100 (e1) - 30 (x1) - 5 (a1); e2 pending does not count
        "okendo_loyalty_points_balance": 65,
        # latest activity: redemption 2024-02-29 (orders: o1 earlier, o2 refunded);
        # + 12 months -> 2025-02-29 does not exist -> 2025-02-28
        "okendo_loyalty_points_expiry_date": date(2025, 2, 28),
        # 29 Feb: 2026-02-28 is before as_of 2026-03-01 -> 2027-02-28
        "okendo_loyalty_next_birthday_date": date(2027, 2, 28),
        "okendo_loyalty_vip_tier": "Gold",
        "okendo_loyalty_vip_tier_expiry_date": date(2026, 12, 31),
    },
    # only a referral recipient
    "bob@example.com": {**NULL_PROFILE, "email": "bob@example.com", "shopify_customer_id": None},
    "zed@example.com": {**NULL_PROFILE, "email": "zed@example.com", "shopify_customer_id": None},
    "cat@example.com": {
        **NULL_PROFILE,
        "email": "cat@example.com",
        "shopify_customer_id": None,
        # a referrer with no success: 0 and 0.00, not null
        "okendo_referral_shareable_link": "https://x/r/cat",
        "okendo_total_successful_referral_revenue": Decimal("0.00"),
        # pending: tier hidden; dateEnrolled without a zone counts as absent
        "okendo_loyalty_program_status": "pending",
        "okendo_loyalty_points_balance": 20,
        "okendo_loyalty_points_expiry_date": date(2026, 10, 10),
        # 31 April does not exist -> null
    },
    # known from an order and loyalty points only; email from the order's key
    "dan@example.com": {**NULL_PROFILE, "email": "dan@example.com", "shopify_customer_id": None},
    "eve@example.com": {
        **NULL_PROFILE,
        "email": "eve@example.com",
        "shopify_customer_id": None,  # "" counts as missing
        "okendo_number_of_reviews": 1,
        "okendo_average_review_rating": 3.0,
        "okendo_latest_review_rating": 3,
        "okendo_loyalty_program_status": "enrolled",
        # 2025-02-01T23:30-02:00 is 2025-02-02 in UTC
        "okendo_loyalty_enrolment_date": date(2025, 2, 2),
        # member without transactions: balance 0, so no expiry
        "okendo_loyalty_points_balance": 0,
        "okendo_loyalty_next_birthday_date": date(2026, 3, 2),
    },
}


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("golden")
    write_golden(root / "landing")
    database = root / "okendo.duckdb"
    assert run_refresh(root / "landing", database, as_of=AS_OF).success
    conn = duckdb.connect(str(database), read_only=True)
    cursor = conn.execute("select * from marts.customer_profiles")
    columns = [d[0] for d in cursor.description]
    rows = {row[0]: dict(zip(columns, row, strict=True)) for row in cursor.fetchall()}
    assert conn.execute("select count(*) from raw.rejected_records").fetchone() == (0,)
    conn.close()
    return rows


def test_one_row_per_customer_key(profiles) -> None:
    assert set(profiles) == set(EXPECTED)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_profile_matches_hand_computed_values(profiles, key: str) -> None:
    got = {k: v for k, v in profiles[key].items() if k != "customer_key"}
    assert len(got) == 24  # email, shopify_customer_id and the 22 properties
    mismatches = {k: (got[k], v) for k, v in EXPECTED[key].items() if got[k] != v}
    assert mismatches == {}
