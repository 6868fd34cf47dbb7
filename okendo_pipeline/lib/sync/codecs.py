"""How each destination names a customer and shapes a row: identity in SQL, items in Python.

The identity is computed in SQL (for the whole snapshot at once) so it is part of what is
compared: a customer whose identity changes (a Shopify id appears) is sent in full again.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from okendo_pipeline.lib.braze import payloads as braze
from okendo_pipeline.lib.destinations import Item
from okendo_pipeline.lib.iterable import payloads as iterable

_HAS_SHOPIFY = "coalesce(shopify_customer_id, '') <> ''"
_EMAIL = "coalesce(email, customer_key)"


@dataclass(frozen=True)
class Codec:
    """One destination's identity rule and payload builders."""

    name: str
    identity_kind_sql: str
    identity_sql: str
    with_attributes: bool  # profile-question answers (okendo_profile_*): Braze only

    def profile_item(self, key: str, kind: str, identity: str, changed: dict[str, Any]) -> Item:
        if self.name == "iterable":
            payload = iterable.user(kind, identity, changed)  # type: ignore[arg-type]
        else:
            payload = braze.attributes(kind, identity, changed)
        return Item(key, identity, payload)

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
        if self.name == "iterable":
            payload = iterable.event(
                kind,  # type: ignore[arg-type]
                identity,
                event_id=event_id,
                event_name=event_name,
                occurred_at=occurred_at,
                properties=props,
            )
        else:
            payload = braze.event(
                kind, identity, event_name=event_name, occurred_at=occurred_at, properties=props
            )
        return Item(event_id, identity, payload)


def iterable_codec(identifier: str) -> Codec:
    """``email`` (default) or ``userId`` = Shopify id; without a Shopify id, the email."""
    if identifier == "userId":
        return Codec(
            "iterable",
            f"case when {_HAS_SHOPIFY} then 'userId' else 'email' end",
            f"case when {_HAS_SHOPIFY} then shopify_customer_id else {_EMAIL} end",
            with_attributes=False,
        )
    return Codec("iterable", "'email'", _EMAIL, with_attributes=False)


def braze_codec(external_id: str) -> Codec:
    """``external_id`` = Shopify id when the setting says so, else the email; customers without
    a Shopify id then go by the ``email`` identifier (CONTRACT section 4)."""
    if external_id == "shopify_customer_id":
        return Codec(
            "braze",
            f"case when {_HAS_SHOPIFY} then 'external_id' else 'email' end",
            f"case when {_HAS_SHOPIFY} then shopify_customer_id else {_EMAIL} end",
            with_attributes=True,
        )
    return Codec("braze", "'external_id'", _EMAIL, with_attributes=True)


def attribute_changes(new: str | None, old: str | None) -> dict[str, Any]:
    """Profile-question answers that changed since the last acknowledged map; an answer that
    disappeared is sent as None (Braze removes it)."""
    current = json.loads(new) if new else {}
    previous = json.loads(old) if old else {}
    changed = {k: v for k, v in current.items() if previous.get(k, object()) != v}
    changed.update({k: None for k in previous if k not in current})
    return changed
