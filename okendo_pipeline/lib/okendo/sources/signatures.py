"""Standard Webhooks (Svix) signature verification, as Okendo's webhook deliveries use it.

Okendo delivers webhooks through Svix: headers ``svix-id``, ``svix-timestamp`` and
``svix-signature`` (or their ``webhook-*`` twins); the signature is HMAC-SHA256 over
``{id}.{timestamp}.{body}`` keyed with the base64 part of the ``whsec_`` secret, sent as a
space-separated list of ``v1,<base64>`` entries (several during a secret rotation).
"""

import base64
import hashlib
import hmac
from collections.abc import Mapping

TOLERANCE_SECONDS = 300  # Svix and Standard Webhooks use five minutes


class SignatureError(Exception):
    """A delivery that must not be accepted; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_...`` secret (the prefix is optional)."""
    raw = secret.strip().removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise ValueError("OKENDO_WEBHOOK_SECRET is not a whsec_<base64> secret") from exc


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of a delivery (what the sender puts in the header)."""
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return headers.get(f"svix-{name}") or headers.get(f"webhook-{name}")


def verify(key: bytes, headers: Mapping[str, str], body: bytes, now: float) -> str:
    """Check a delivery; returns its message id. ``headers`` are lower-cased.

    Unsigned: 401. A signature that does not match: 401 as well (the sender cannot tell which
    secret we hold). A timestamp outside the tolerance (stale or replayed later): 400.
    """
    msg_id, stamp, signatures = (_header(headers, n) for n in ("id", "timestamp", "signature"))
    if not (msg_id and stamp and signatures):
        raise SignatureError("unsigned delivery: svix-id/-timestamp/-signature missing", 401)
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError(f"bad timestamp header {stamp[:20]!r}", 400) from None
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError(
            f"timestamp {timestamp} is more than {TOLERANCE_SECONDS}s from now: stale or replayed",
            400,
        )
    expected = sign(key, msg_id, timestamp, body).split(",", 1)[1]
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return msg_id
    raise SignatureError("signature does not match the subscription secret", 401)
