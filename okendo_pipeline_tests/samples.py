"""Hand-written valid resources, one per type, and helpers to write landing files."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

from okendo_pipeline.lib.okendo.contract.rules import ENVELOPE_VERSION

TS = "2025-03-01T10:15:30.123Z"

VALID: dict[str, dict[str, Any]] = {
    "customer": {
        "customerId": "c-1",
        "email": "Ada@Example.com",
        "givenName": "Ada",
        "familyName": "Lovelace",
        "shopifyCustomerId": "123",
        "dateCreated": TS,
    },
    "review": {
        "reviewId": "r-1",
        "productId": "shopify-1",
        "productName": "Serum",
        "rating": 5,
        "sentiment": "positive",
        "status": "approved",
        "dateCreated": TS,
        "media": [{"type": "image", "url": "https://x/1.jpg"}],
        "reviewer": {
            "email": "ada@example.com",
            "attributes": [{"title": "Skin Type", "value": "Dry"}],
        },
    },
    "review_request": {
        "reviewRequestId": "rr-1",
        "customer": {"email": "ada@example.com"},
        "order": {"orderId": "1", "orderNumber": "#1"},
        "products": [{"productId": "shopify-1", "name": "Serum", "reviewUrl": "https://x/r"}],
        "status": "sent",
        "dateCreated": TS,
    },
    "survey_response": {
        "surveyResponseId": "s-1",
        "surveyId": "sv",
        "surveyName": "Post purchase",
        "customer": {"email": "ada@example.com"},
        "dateSubmitted": TS,
        "answers": [
            {"questionId": "q1", "questionType": "nps", "title": "Recommend?", "value": 9},
            {"questionId": "q2", "questionType": "text", "title": "Why?", "value": None},
        ],
    },
    "quiz_response": {
        "quizResponseId": "qz-1",
        "quizId": "quiz",
        "quizName": "Routine",
        "customer": {"email": "ada@example.com"},
        "dateSubmitted": TS,
        "answers": [{"question": "Skin?", "answer": "Dry"}],
        "recommendedProducts": [{"productId": "shopify-1", "name": "Serum"}],
    },
    "loyalty_customer": {
        "loyaltyCustomerId": "lc-1",
        "customer": {"email": "ada@example.com"},
        "status": "enrolled",
        "dateEnrolled": TS,
        "vipTierName": "Gold",
        "dateUpdated": TS,
    },
    "loyalty_earning_transaction": {
        "loyaltyTransactionId": "le-1",
        "loyaltyCustomerId": "lc-1",
        "customer": {"email": "ada@example.com"},
        "points": 100,
        "action": "placed-order",
        "status": "complete",
        "date": TS,
    },
    "loyalty_redemption_transaction": {
        "loyaltyTransactionId": "lr-1",
        "loyaltyCustomerId": "lc-1",
        "customer": {"email": "ada@example.com"},
        "pointsSpent": 50,
        "rewardType": "coupon",
        "status": "complete",
        "date": TS,
    },
    "loyalty_adjustment_transaction": {
        "loyaltyTransactionId": "la-1",
        "loyaltyCustomerId": "lc-1",
        "customer": {"email": "ada@example.com"},
        "amount": -5,
        "status": "complete",
        "date": TS,
    },
    "loyalty_vip_tier": {
        "tierId": "t-1",
        "name": "Gold",
        "rank": 2,
        "spendThreshold": "500.00",
        "currency": "USD",
    },
    "order": {
        "orderId": "o-1",
        "orderNumber": "#1",
        "customer": {"email": "ada@example.com"},
        "totalPrice": "19.99",
        "currency": "USD",
        "financialStatus": "paid",
        "dateCreated": TS,
    },
    "referrer": {
        "referrerId": "rf-1",
        "customer": {"email": "ada@example.com"},
        "shareableLink": "https://x/r/ada",
        "locale": "en",
        "dateOptedIn": TS,
    },
    "referral": {
        "referralId": "rl-1",
        "referrerId": "rf-1",
        "channel": "email",
        "locale": "en",
        "recipient": {"email": "bob@example.com"},
        "status": "succeeded",
        "dateCreated": TS,
        "order": {"orderId": "9", "totalPrice": 30.5, "currency": "USD"},
        "referrerCoupon": {"code": "OKR-1"},
    },
}

ID_FIELD = {
    "customer": "customerId",
    "review": "reviewId",
    "review_request": "reviewRequestId",
    "survey_response": "surveyResponseId",
    "quiz_response": "quizResponseId",
    "loyalty_customer": "loyaltyCustomerId",
    "loyalty_earning_transaction": "loyaltyTransactionId",
    "loyalty_redemption_transaction": "loyaltyTransactionId",
    "loyalty_adjustment_transaction": "loyaltyTransactionId",
    "loyalty_vip_tier": "tierId",
    "order": "orderId",
    "referrer": "referrerId",
    "referral": "referralId",
}


def resource(resource_type: str, **changes: Any) -> dict[str, Any]:
    """A valid resource of the type with some fields changed (a value of ... removes it)."""
    out = copy.deepcopy(VALID[resource_type])
    for key, value in changes.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def envelope(
    resource_type: str,
    seq: int | str,
    topic: str = "create",
    res: dict | None = None,
    **changes: Any,
) -> dict[str, Any]:
    return {
        "resourceType": resource_type,
        "topic": topic,
        "sequenceNumber": seq if isinstance(seq, str) else f"{seq:06d}",
        "version": ENVELOPE_VERSION,
        "resource": res if res is not None else resource(resource_type, **changes),
    }


def raw_envelope(
    resource_type: str, seq: int, res: dict[str, Any], topic: str = "create"
) -> dict[str, Any]:
    """An envelope around a resource written out in full (the golden tests spell every field)."""
    return {
        "resourceType": resource_type,
        "topic": topic,
        "sequenceNumber": str(seq),
        "resource": res,
    }


def order_resource(
    order_id: str, email: str, created: str, total: str = "10.00", status: str = "paid"
) -> dict[str, Any]:
    """An order resource written out in full."""
    return {
        "orderId": order_id,
        "orderNumber": f"#{order_id}",
        "customer": {"email": email},
        "totalPrice": total,
        "currency": "USD",
        "financialStatus": status,
        "dateCreated": created,
    }


def write_landing(
    landing: Path, folder: str, name: str, lines: list[dict | str], *, gz: bool = False
) -> Path:
    """Write envelopes (dicts) or raw lines (str) as one landing file."""
    path = landing / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path
