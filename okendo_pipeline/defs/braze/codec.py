"""How Braze names a customer, and the payload builders the engine calls."""

from okendo_pipeline.defs.braze import payloads
from okendo_pipeline.lib.sync.codec import EMAIL, Codec, shopify_id_else_email


def codec(external_id: str) -> Codec:
    """``external_id`` = the Shopify customer id when the merchant setting says so, else the
    email; customers without a Shopify id then go by the ``email`` identifier. Braze also takes
    the profile-question answers."""
    kind_sql, identity_sql = shopify_id_else_email("external_id")
    if external_id != "shopify_customer_id":
        kind_sql, identity_sql = "'external_id'", EMAIL
    return Codec(
        "braze",
        kind_sql,
        identity_sql,
        with_attributes=True,
        profile_sql=payloads.attributes_sql(),
        # Braze keeps every event it receives: there is no id to send.
        event_payload=lambda kind, identity, _id, name, occurred_at, props: payloads.event(
            kind, identity, event_name=name, occurred_at=occurred_at, properties=props
        ),
    )
