"""The small rules of an erasure: which address, its salted hash, where its text shows.

An address is matched as the specification keys customers, ``lower(trim(email))``. In free text
(a review body, a rejected line, an error message) it is matched case-insensitively and only as
a whole address: ``bob@shop.com`` must not wipe part of ``jimbob@shop.com`` or of
``bob@shop.com.au``, which are other people.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from okendo_pipeline.lib.okendo.contract.models import RESOURCE_MODELS

REDACTED = "[erased]"
# Characters that may sit inside an address next to where ours starts or ends.
_BEFORE = r"(^|[^a-z0-9._%+\-])"
_AFTER = r"(\.?(?:[^a-z0-9_.\-]|$))"


def normalise(address: str) -> str:
    """The customer key of an address, as the warehouse keys customers."""
    key = address.strip().lower()
    if "@" not in key or any(c.isspace() for c in key):
        raise ValueError("not an email address")
    return key


def salted_hash(salt: str, key: str) -> str:
    """What the erasure log keeps of an address: enough to recognise a repeated request, never
    enough to read the address back without the warehouse's salt."""
    return hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()


def text_pattern(keys: list[str]) -> str:
    """An RE2 pattern (for DuckDB's ``regexp_*`` with option ``i``) matching any of ``keys`` as
    a whole address; groups 1 and 2 are the characters around it, kept on replace."""
    alternatives = "|".join(re.escape(k) for k in sorted(keys))
    return f"{_BEFORE}(?:{alternatives}){_AFTER}"


def python_pattern(keys: list[str]) -> re.Pattern[str]:
    return re.compile(text_pattern(keys), re.IGNORECASE)


def redact(text: str, pattern: re.Pattern[str]) -> str:
    """``text`` with every whole occurrence replaced. Twice: one match consumes the character
    after it, which may be the character before the next occurrence (``a@x.io,a@x.io``)."""
    for _ in range(2):
        text = pattern.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(2)}", text)
    return text


def sql_redact(column: str, pattern_param: str = "$pattern") -> str:
    """The SQL twin of ``redact`` over a text column."""
    once = f"regexp_replace({column}, {pattern_param}, '\\1{REDACTED}\\2', 'gi')"
    return f"regexp_replace({once}, {pattern_param}, '\\1{REDACTED}\\2', 'gi')"


def line_key(envelope: Any) -> str | None:
    """The customer key an envelope line belongs to (its keying email), or None (a tier, or a
    line that does not say)."""
    if not isinstance(envelope, dict):
        return None
    model = RESOURCE_MODELS.get(str(envelope.get("resourceType")))
    value: Any = envelope.get("resource")
    if model is None or model.email_path is None:
        return None
    for part in model.email_path:
        value = value.get(part) if isinstance(value, dict) else None
    return value.strip().lower() if isinstance(value, str) else None


def parse_line(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None
