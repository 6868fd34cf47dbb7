"""How Iterable names a customer, and the payload builders the engine calls."""

from okendo_pipeline.defs.iterable import payloads
from okendo_pipeline.lib.sync.codec import EMAIL, Codec, shopify_id_else_email


def codec(identifier: str) -> Codec:
    """``email`` (default) or ``userId`` = the Shopify customer id; a customer without one is
    sent by email in ``userId`` mode too."""
    kind_sql, identity_sql = shopify_id_else_email("userId")
    if identifier != "userId":
        kind_sql, identity_sql = "'email'", EMAIL
    return Codec(
        "iterable",
        kind_sql,
        identity_sql,
        with_attributes=False,
        profile_payload=payloads.user,  # type: ignore[arg-type]
        event_payload=lambda kind, identity, event_id, name, occurred_at, props: payloads.event(
            kind,  # type: ignore[arg-type]
            identity,
            event_id=event_id,
            event_name=name,
            occurred_at=occurred_at,
            properties=props,
        ),
    )
