"""Mart rows to Braze ``/users/track`` objects (specification, "Destinations"): pure functions.

Braze keys are the mart's snake_case column names; times are ISO 8601 in UTC; ``None`` removes
the attribute. Braze refuses strings over 255 characters (attribute values and event
properties), which would cost the whole object, so longer strings (a review body) are cut to 255
characters: the event arrives, with the start of the text.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from okendo_pipeline.defs.braze.limits import MAX_STRING_LENGTH
from okendo_pipeline.defs.braze.models import ExternalIdSetting
from okendo_pipeline.lib.catalogue import FIELDS_BY_COLUMN
from okendo_pipeline.lib.destinations import format_utc


def identity(
    setting: ExternalIdSetting, email: str | None, shopify_customer_id: str | None
) -> tuple[str, str]:
    """(identifier field, value): ``external_id`` = Shopify id when the merchant setting is on,
    else the email; a customer without a Shopify id then goes by the ``email`` identifier."""
    if setting == "shopify_customer_id":
        if shopify_customer_id:
            return "external_id", shopify_customer_id
        if not email:
            raise ValueError("customer has neither a Shopify customer id nor an email")
        return "email", email
    if not email:
        raise ValueError("customer has no email to use as Braze external_id")
    return "external_id", email


def braze_time(value: date | datetime | str) -> str:
    """ISO 8601 in UTC to the second, ``2025-03-01T00:00:00Z``. A date becomes midnight UTC:
    Braze types an attribute as a time only from a full timestamp."""
    return format_utc(value, "T00:00:00Z", "%Y-%m-%dT%H:%M:%SZ")


def clip(value: Any) -> Any:
    """Strings cut to Braze's 255 characters, also inside lists and objects."""
    if isinstance(value, str):
        return value if len(value) <= MAX_STRING_LENGTH else value[:MAX_STRING_LENGTH]
    if isinstance(value, list):
        return [clip(v) for v in value]
    if isinstance(value, dict):
        return {k: clip(v) for k, v in value.items()}
    return value


def attribute_value(column: str, value: Any) -> Any:
    if value is None:
        return None
    spec = FIELDS_BY_COLUMN.get(column)
    if spec is not None and spec.kind == "date":
        return braze_time(value)
    if isinstance(value, Decimal):
        return float(value)
    return clip(value)


def attributes(id_field: str, id_value: str, changed: dict[str, Any]) -> dict[str, Any]:
    """An ``attributes[]`` object with only the changed keys (22 properties and
    ``okendo_profile_*`` answers); ``None`` removes the attribute in Braze."""
    obj: dict[str, Any] = {id_field: id_value}
    for column, value in changed.items():
        obj[column] = attribute_value(column, value)
    return obj


def event(
    id_field: str,
    id_value: str,
    *,
    event_name: str,
    occurred_at: datetime,
    properties: dict[str, Any],
) -> dict[str, Any]:
    """An ``events[]`` object. Braze keeps every event it receives: there is no id to dedupe on."""
    return {
        id_field: id_value,
        "name": event_name,
        "time": braze_time(occurred_at),
        "properties": clip(properties),
    }
