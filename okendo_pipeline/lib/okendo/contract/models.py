"""Typed landing models: one pydantic model per Okendo resource type (specification, "Landing").

The models enforce exactly the contract's rejection rules and nothing more: fields the contract
lists without a rule (titles, descriptions, locales) are accepted as any non-null JSON value when
required and any value when optional; staging casts them. Unknown fields are kept (``extra``).

Where the contract's table nests required fields inside objects (``order.orderId``, coupon
``code``), only the keying email is enforced: the fine print itself expects coupons without
``dateIssued`` and answers with null values, so nested requiredness would reject real records.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from okendo_pipeline.lib.okendo.contract import rules
from okendo_pipeline.lib.okendo.contract.rules import WhenRule


def _required(rule: rules.Rule | None) -> Callable[[Any], Any]:
    def validate(value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("okendo_missing", rules.MISSING_MESSAGE)
        if rule is None:
            return value
        if not rule.check(value):
            raise PydanticCustomError("okendo_rule", rule.message)
        return rule.convert(value)

    return validate


def _optional(rule: rules.Rule) -> Callable[[Any], Any]:
    def validate(value: Any) -> Any:
        if value is None:
            return None
        if not rule.check(value):
            raise PydanticCustomError("okendo_rule", rule.message)
        return rule.convert(value)

    return validate


NON_EMPTY = rules.NonEmptyString()
EMAIL = rules.Email()
TIMESTAMP = rules.Timestamp()
DECIMAL = rules.DecimalAmount()

Id = Annotated[str, BeforeValidator(_required(NON_EMPTY)), NON_EMPTY]
EmailAddress = Annotated[str, BeforeValidator(_required(EMAIL)), EMAIL]
Timestamp = Annotated[datetime, BeforeValidator(_required(TIMESTAMP)), TIMESTAMP]
# An optional timestamp without a zone counts as absent, never a rejection (specification,
# "Fine print: input").
OptionalTimestamp = Annotated[datetime | None, BeforeValidator(rules.parse_timestamp)]
Amount = Annotated[Decimal, BeforeValidator(_required(DECIMAL)), DECIMAL]
OptionalAmount = Annotated[Decimal | None, BeforeValidator(_optional(DECIMAL)), DECIMAL]
# A required field the contract gives no type rule: any non-null JSON value.
Value = Annotated[Any, BeforeValidator(_required(None))]


def one_of(*values: str) -> Any:
    """A required value from a listed set."""
    rule = rules.OneOf(values)
    return Annotated[str, BeforeValidator(_required(rule)), rule]


def optional_one_of(*values: str) -> Any:
    """An optional value that, when present, comes from a listed set."""
    rule = rules.OneOf(values)
    return Annotated[str | None, BeforeValidator(_optional(rule)), rule]


def integer(**bounds: Any) -> Any:
    """A required JSON integer with bounds."""
    rule = rules.Integer(**bounds)
    return Annotated[int, BeforeValidator(_required(rule)), rule]


TRANSACTION_STATUS = ("complete", "pending", "cancelled")


class OkendoModel(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown fields kept."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True
    )
    # Cross-field rules on this object, read by both the pydantic validator and the SQL compiler.
    when_rules: ClassVar[tuple[WhenRule, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _apply_when_rules(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for when in cls.when_rules:
            if data.get(when.when_key) == when.when_value and not when.rule.check(
                data.get(when.key)
            ):
                raise PydanticCustomError(
                    "okendo_when_rule",
                    "{key}: {message} when {when_key} is {when_value}",
                    {
                        "key": when.key,
                        "message": when.rule.message,
                        "when_key": when.when_key,
                        "when_value": when.when_value,
                    },
                )
        return data


class Resource(OkendoModel):
    """A resource type: which field is its id and which email keys its customer."""

    resource_type: ClassVar[str]
    id_field: ClassVar[str]
    email_path: ClassVar[tuple[str, ...] | None]


# --- nested objects --------------------------------------------------------------------------


class CustomerRef(OkendoModel):
    email: EmailAddress
    customer_id: Any = None
    given_name: Any = None
    family_name: Any = None


class OrderRef(OkendoModel):
    order_id: Any = None
    order_number: Any = None


class Attribute(OkendoModel):
    title: Any = None
    value: Any = None


class Reviewer(OkendoModel):
    email: EmailAddress
    customer_id: Any = None
    display_name: Any = None
    verified_status: Any = None
    attributes: list[Attribute] | None = None


class Media(OkendoModel):
    type: optional_one_of("image", "video") = None
    url: Any = None


class RequestedProduct(OkendoModel):
    product_id: Any = None
    name: Any = None
    image_url: Any = None
    review_url: Any = None


class SurveyAnswer(OkendoModel):
    when_rules: ClassVar[tuple[WhenRule, ...]] = (
        WhenRule("questionType", "nps", "value", rules.Integer(minimum=0, maximum=10)),
    )

    question_id: Any = None
    question_type: optional_one_of(
        "nps", "rating", "single-choice", "multiple-choice", "text", "date"
    ) = None
    title: Any = None
    value: Any = None
    profile_attribute: Any = None


class QuizAnswer(OkendoModel):
    question: Any = None
    answer: Any = None


class RecommendedProduct(OkendoModel):
    product_id: Any = None
    name: Any = None
    url: Any = None
    image_url: Any = None


class Birthday(OkendoModel):
    day: Any = None
    month: Any = None


class ReferralOrder(OkendoModel):
    order_id: Any = None
    total_price: OptionalAmount = None
    currency: Any = None


class Coupon(OkendoModel):
    code: Any = None
    date_issued: OptionalTimestamp = None
    date_redeemed: OptionalTimestamp = None


# --- resource types ---------------------------------------------------------------------------


class Customer(Resource):
    resource_type = "customer"
    id_field = "customerId"
    email_path = ("email",)

    customer_id: Id
    email: EmailAddress
    given_name: Any = None
    family_name: Any = None
    shopify_customer_id: Any = None
    date_created: Timestamp
    date_updated: OptionalTimestamp = None


class Review(Resource):
    resource_type = "review"
    id_field = "reviewId"
    email_path = ("reviewer", "email")

    review_id: Id
    product_id: Value
    product_name: Value
    product_url: Any = None
    variant_id: Any = None
    rating: integer(minimum=1, maximum=5)
    title: Any = None
    body: Any = None
    is_recommended: Any = None
    sentiment: optional_one_of("positive", "negative", "neutral", "mixed") = None
    status: one_of("approved", "pending", "rejected")
    language_code: Any = None
    date_created: Timestamp
    media: list[Media] | None = None
    order: OrderRef | None = None
    achieved_reward: optional_one_of("coupon", "loyalty") = None
    reviewer: Reviewer


class ReviewRequest(Resource):
    resource_type = "review_request"
    id_field = "reviewRequestId"
    email_path = ("customer", "email")

    review_request_id: Id
    customer: CustomerRef
    order: OrderRef
    products: list[RequestedProduct]
    status: one_of("sent", "cancelled")
    date_created: Timestamp
    date_cancelled: OptionalTimestamp = None


class SurveyResponse(Resource):
    resource_type = "survey_response"
    id_field = "surveyResponseId"
    email_path = ("customer", "email")

    survey_response_id: Id
    survey_id: Value
    survey_name: Value
    customer: CustomerRef
    date_submitted: Timestamp
    order: OrderRef | None = None
    answers: list[SurveyAnswer]


class QuizResponse(Resource):
    resource_type = "quiz_response"
    id_field = "quizResponseId"
    email_path = ("customer", "email")

    quiz_response_id: Id
    quiz_id: Value
    quiz_name: Value
    customer: CustomerRef
    date_submitted: Timestamp
    answers: list[QuizAnswer]
    recommended_products: list[RecommendedProduct]


class LoyaltyCustomer(Resource):
    resource_type = "loyalty_customer"
    id_field = "loyaltyCustomerId"
    email_path = ("customer", "email")

    loyalty_customer_id: Id
    customer: CustomerRef
    status: one_of("enrolled", "pending", "blocked")
    date_enrolled: OptionalTimestamp = None
    birthday: Birthday | None = None
    vip_tier_name: Any = None
    vip_tier_entry_date: OptionalTimestamp = None
    vip_tier_expiry_date: OptionalTimestamp = None
    points_balance: Any = None
    date_updated: Timestamp


class LoyaltyEarningTransaction(Resource):
    resource_type = "loyalty_earning_transaction"
    id_field = "loyaltyTransactionId"
    email_path = ("customer", "email")

    loyalty_transaction_id: Id
    loyalty_customer_id: Value
    customer: CustomerRef
    points: integer(minimum=1)
    action: Value
    description: Any = None
    status: one_of(*TRANSACTION_STATUS)
    date: Timestamp


class LoyaltyRedemptionTransaction(Resource):
    resource_type = "loyalty_redemption_transaction"
    id_field = "loyaltyTransactionId"
    email_path = ("customer", "email")

    loyalty_transaction_id: Id
    loyalty_customer_id: Value
    customer: CustomerRef
    points_spent: integer(minimum=1)
    reward_type: one_of("coupon", "store-credit")
    coupon_code: Any = None
    coupon_description: Any = None
    coupon_expiry_date: OptionalTimestamp = None
    store_credit_amount: Any = None
    status: one_of(*TRANSACTION_STATUS)
    date: Timestamp


class LoyaltyAdjustmentTransaction(Resource):
    resource_type = "loyalty_adjustment_transaction"
    id_field = "loyaltyTransactionId"
    email_path = ("customer", "email")

    loyalty_transaction_id: Id
    loyalty_customer_id: Value
    customer: CustomerRef
    amount: integer(nonzero=True)
    internal_reason: Any = None
    notification_text: Any = None
    status: one_of(*TRANSACTION_STATUS)
    date: Timestamp


class LoyaltyVipTier(Resource):
    resource_type = "loyalty_vip_tier"
    id_field = "tierId"
    email_path = None

    tier_id: Id
    name: Value
    rank: integer(minimum=0)
    spend_threshold: Amount
    currency: Value


class Order(Resource):
    resource_type = "order"
    id_field = "orderId"
    email_path = ("customer", "email")

    order_id: Id
    order_number: Value
    customer: CustomerRef
    total_price: Amount
    currency: Value
    financial_status: one_of("paid", "refunded")
    date_created: Timestamp


class Referrer(Resource):
    resource_type = "referrer"
    id_field = "referrerId"
    email_path = ("customer", "email")

    referrer_id: Id
    customer: CustomerRef
    shareable_link: Value
    locale: Value
    date_opted_in: Timestamp


class Recipient(OkendoModel):
    email: EmailAddress
    given_name: Any = None
    family_name: Any = None


class Referral(Resource):
    resource_type = "referral"
    id_field = "referralId"
    email_path = ("recipient", "email")

    referral_id: Id
    referrer_id: Value
    channel: one_of("email", "shareable-link")
    locale: Value
    recipient: Recipient
    status: one_of("invited", "opted-in", "succeeded", "rejected")
    date_created: Timestamp
    date_opted_in: OptionalTimestamp = None
    date_succeeded: OptionalTimestamp = None
    date_rejected: OptionalTimestamp = None
    rejection_reason: Any = None
    order: ReferralOrder | None = None
    referrer_coupon: Coupon | None = None
    recipient_coupon: Coupon | None = None


RESOURCE_MODELS: dict[str, type[Resource]] = {
    model.resource_type: model
    for model in (
        Customer,
        Review,
        ReviewRequest,
        SurveyResponse,
        QuizResponse,
        LoyaltyCustomer,
        LoyaltyEarningTransaction,
        LoyaltyRedemptionTransaction,
        LoyaltyAdjustmentTransaction,
        LoyaltyVipTier,
        Order,
        Referrer,
        Referral,
    )
}
RESOURCE_TYPES: tuple[str, ...] = tuple(RESOURCE_MODELS)

TOPIC = rules.OneOf(("create", "update", "delete"))
SEQUENCE = rules.SequenceNumber()


class Envelope(OkendoModel):
    """The webhook-style envelope around every resource."""

    resource_type: Value
    topic: one_of(*TOPIC.values)
    sequence_number: Annotated[str, BeforeValidator(_required(SEQUENCE)), SEQUENCE]
    version: Any = None
    resource: dict[str, Any]
