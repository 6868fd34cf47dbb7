"""How a destination names a customer and shapes a row: identity in SQL, payloads in Python
or, where throughput needs it, in SQL.

The identity is computed in SQL (for the whole snapshot at once) so it is part of what is
compared: a customer whose identity changes (a Shopify id appears) is sent in full again. A
destination whose profiles go out faster than Python can build them (Braze: 1,000 requests of
75 profiles a second) renders them in DuckDB instead (``profile_sql``): the engine then reads
ready request bodies and Python only posts bytes. Each destination builds its ``Codec`` in its
own folder; the engine only calls it.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from okendo_pipeline.lib.destinations import Item

HAS_SHOPIFY_ID = "coalesce(shopify_customer_id, '') <> ''"
EMAIL = "coalesce(email, customer_key)"

# (identity kind, identity, changed values by mart column) -> the destination's profile object
ProfilePayload = Callable[[str, str, dict[str, Any]], dict[str, Any]]
# (identity kind, identity, event_id, event_name, occurred_at, properties) -> its event object
EventPayload = Callable[[str, str, str, str, datetime, dict[str, Any]], dict[str, Any]]


def shopify_id_else_email(kind_with_id: str) -> tuple[str, str]:
    """(identity kind SQL, identity SQL): the Shopify customer id under ``kind_with_id`` when the
    customer has one, else the email under ``email``."""
    return (
        f"case when {HAS_SHOPIFY_ID} then '{kind_with_id}' else 'email' end",
        f"case when {HAS_SHOPIFY_ID} then shopify_customer_id else {EMAIL} end",
    )


@dataclass(frozen=True)
class Codec:
    """One destination's identity rule and payload builders. ``with_attributes``: the
    destination takes profile-question answers (``okendo_profile_*``). A profile is built by
    exactly one of ``profile_payload`` (Python, from the changed values) and ``profile_sql``
    (a SQL expression over a ``sync.outbox_profiles`` row giving the object as JSON text)."""

    name: str
    identity_kind_sql: str
    identity_sql: str
    with_attributes: bool
    event_payload: EventPayload
    profile_payload: ProfilePayload | None = None
    profile_sql: str | None = None

    def profile_item(self, key: str, kind: str, identity: str, changed: dict[str, Any]) -> Item:
        if self.profile_payload is None:
            raise TypeError(f"{self.name} renders its profiles in SQL (profile_sql)")
        return Item(key, identity, self.profile_payload(kind, identity, changed))

    def event_item(
        self,
        event_id: str,
        kind: str,
        identity: str,
        event_name: str,
        occurred_at: datetime,
        properties: str | dict[str, Any] | None,
    ) -> Item:
        props = json.loads(properties) if isinstance(properties, str) else (properties or {})
        payload = self.event_payload(kind, identity, event_id, event_name, occurred_at, props)
        return Item(event_id, identity, payload)


def attribute_changes(new: str | None, old: str | None) -> dict[str, Any]:
    """Profile-question answers that changed since the last acknowledged map; an answer that
    disappeared is sent as None (the destination removes it)."""
    current = json.loads(new) if new else {}
    previous = json.loads(old) if old else {}
    changed = {k: v for k, v in current.items() if previous.get(k, object()) != v}
    changed.update({k: None for k in previous if k not in current})
    return changed
