"""Mart rows to Iterable objects (specification, "Destinations"): small pure functions.

Dates go out as ``yyyy-MM-dd HH:mm:ss +00:00``, the format Iterable segments on: a raw ISO string
sent first would lock the field's type as string for the life of the project.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from okendo_pipeline.defs.iterable.limits import MAX_EVENT_ID_BYTES
from okendo_pipeline.lib.catalogue import EVENT_TIMESTAMP_PROPERTIES, FIELDS_BY_COLUMN, Kind
from okendo_pipeline.lib.destinations import format_utc, utc_moment

Identifier = Literal["email", "userId"]
DATE_FORMAT = "%Y-%m-%d %H:%M:%S +00:00"


def iterable_date(value: date | datetime | str) -> str:
    """A date or timestamp (object or ISO string) in Iterable's date format, in UTC."""
    return format_utc(value, " 00:00:00 +00:00", DATE_FORMAT)


def field_value(kind: Kind, value: Any) -> Any:
    """One profile value as Iterable should store it; None stays None (clears the field)."""
    if value is None:
        return None
    if kind == "date":
        return iterable_date(value)
    if kind == "number":
        return float(value) if isinstance(value, Decimal) else value
    if kind == "integer":
        return int(value)
    return value


def user(identifier: Identifier, identity: str, changed: dict[str, Any]) -> dict[str, Any]:
    """A bulkUpdate ``users[]`` entry carrying only the changed fields, by their Iterable names.

    ``changed`` is keyed by mart column; unknown columns (Braze-only profile answers) are left
    out, so a change only to those sends nothing to Iterable.
    """
    data = {
        FIELDS_BY_COLUMN[col].iterable_name: field_value(FIELDS_BY_COLUMN[col].kind, value)
        for col, value in changed.items()
        if col in FIELDS_BY_COLUMN
    }
    return {identifier: identity, "dataFields": data}


def event_data_fields(properties: dict[str, Any]) -> dict[str, Any]:
    """Event properties with their timestamps in Iterable's date format."""
    return {
        key: iterable_date(value)
        if key in EVENT_TIMESTAMP_PROPERTIES and isinstance(value, str) and value
        else value
        for key, value in properties.items()
    }


def unix_seconds(moment: datetime) -> int:
    """``createdAt``: a naive timestamp is UTC (the mart stores UTC)."""
    return int(utc_moment(moment).timestamp())


def event(
    identifier: Identifier,
    identity: str,
    *,
    event_id: str,
    event_name: str,
    occurred_at: datetime,
    properties: dict[str, Any],
) -> dict[str, Any]:
    """A trackBulk ``events[]`` entry; ``id`` = event_id makes a resend an update, not a copy."""
    if len(event_id.encode()) > MAX_EVENT_ID_BYTES:
        raise ValueError(f"event id {event_id[:40]!r}... is over {MAX_EVENT_ID_BYTES} bytes")
    return {
        identifier: identity,
        "eventName": event_name,
        "id": event_id,
        "createdAt": unix_seconds(occurred_at),
        "dataFields": event_data_fields(properties),
    }
