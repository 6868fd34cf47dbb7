"""Mart rows to Braze ``/users/track`` objects (specification, "Destinations"): pure functions.

Braze keys are the mart's snake_case column names; times are ISO 8601 in UTC; ``None`` removes
the attribute. Braze refuses strings over 255 characters (attribute values and event
properties), which would cost the whole object, so longer strings (a review body) are cut to 255
characters: the event arrives, with the start of the text.
"""

from datetime import date, datetime
from typing import Any

from okendo_pipeline.defs.braze.limits import MAX_STRING_LENGTH
from okendo_pipeline.defs.braze.models import ExternalIdSetting
from okendo_pipeline.lib.catalogue import PROFILE_FIELDS
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


def _clip_json_sql(value: str) -> str:
    """A JSON value (a profile answer) with its strings cut to 255 characters, also inside a
    list: answers are numbers, strings or lists of strings."""

    def clip_one(v: str) -> str:
        clipped = f"to_json(left({v} ->> '$', {MAX_STRING_LENGTH}))"
        return f"case when json_type({v}) = 'VARCHAR' then {clipped} else {v}::varchar end"

    items = f"list_transform(json_extract({value}, '$[*]'), lambda x: {clip_one('x')})"
    return (
        f"case when json_type({value}) = 'ARRAY' then '[' || array_to_string({items}, ',') || ']' "
        f"else {clip_one(value)} end"
    )


def _field_value_sql(column: str, kind: str) -> str:
    """One profile value as Braze takes it, as JSON text (null when the value is)."""
    if kind == "date":
        return f"""'"' || strftime({column}::timestamp, '%Y-%m-%dT%H:%M:%SZ') || '"'"""
    if kind == "string":
        return f"to_json(left({column}, {MAX_STRING_LENGTH}))"
    if kind == "number":
        return f"to_json({column}::double)"
    return f"to_json({column})"


def attributes_sql() -> str:
    """An ``attributes[]`` object for one planned profile (a ``sync.outbox_profiles`` row), as
    JSON text, rendered in DuckDB so a sync of a million profiles never builds them in Python:
    the identity, then only the changed keys (22 properties, then ``okendo_profile_*`` answers
    that changed since the acknowledged map; an answer that went, or every field of a cleared
    customer, as ``null``, which removes the attribute in Braze). Dates are ISO 8601 in UTC
    (a date is midnight: Braze types an attribute as a time only from a full timestamp),
    decimals are numbers, strings are cut to Braze's 255 characters."""
    parts = ["'{' || to_json(identity_kind) || ':' || to_json(identity)"]
    for field in PROFILE_FIELDS:
        value = _field_value_sql(field.column, field.kind)
        parts.append(
            f"case when list_contains(changed_fields, '{field.column}') "
            f"""then ',"{field.column}":' || coalesce({value}, 'null') else '' end"""
        )
    new = "coalesce(profile_attributes, '{}')::map(varchar, json)"
    old = "coalesce(case when operation <> 'create' then old_attributes end, '{}')"
    old += "::map(varchar, json)"
    changed = (
        f"list_filter(map_entries({new}), lambda e: map_extract_value({old}, e.key) "
        "is distinct from e.value)"
    )
    gone = f"list_filter(map_keys({old}), lambda k: not map_contains({new}, k))"
    answers = (
        f"array_to_string(list_transform({changed}, lambda e: ',' || to_json(e.key) || ':' || "
        f"{_clip_json_sql('e.value')}), '') || "
        f"array_to_string(list_transform({gone}, lambda k: ',' || to_json(k) || ':null'), '')"
    )
    parts.append(
        f"case when list_contains(changed_fields, 'profile_attributes') then {answers} else '' end"
    )
    return " || ".join(parts) + " || '}'"


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
