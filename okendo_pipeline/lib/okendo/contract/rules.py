"""Validation rules for landing envelopes, defined once (specification, "Fine print: input").

Each rule knows how to check a decoded JSON value in Python (used by the pydantic models) and how
to check a JSON fragment in DuckDB SQL (used by set-based ingestion), and carries the message a
user reads in ``raw.rejected_records``. Keeping both executors on one object is what stops the
per-record models and the bulk loader from drifting apart; a parity test runs both on one corpus.

SQL arguments are expressions of DuckDB type JSON (a fragment such as ``'"abc"'`` or ``'5'``);
they are never NULL when a rule is asked, the compiler guards missing values first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from okendo_pipeline.lib.dbt_project import DBT_PROJECT_DIR

# ASCII-only patterns: Python's \d matches any Unicode digit, DuckDB's (RE2) does not.
EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"
# A zoned ISO 8601 timestamp: defined once, as a var of the dbt project, whose staging models
# apply the same pattern.
TIMESTAMP_PATTERN: str = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"][
    "timestamp_pattern"
]
DECIMAL_PATTERN = r"-?[0-9]{1,18}(\.[0-9]{1,9})?"
DIGITS_PATTERN = r"[0-9]+"
# The envelope version Okendo's webhooks use; the generator and the API extractor write it.
ENVELOPE_VERSION = "2025-02-01"
# Sequence numbers are compared as integers; DuckDB's HUGEINT holds 38 significant digits.
MAX_SEQUENCE_DIGITS = 38

_EMAIL_RE = re.compile(EMAIL_PATTERN)
_TIMESTAMP_RE = re.compile(TIMESTAMP_PATTERN)
_DECIMAL_RE = re.compile(DECIMAL_PATTERN)
_DIGITS_RE = re.compile(DIGITS_PATTERN)

MISSING_MESSAGE = "is missing or null"
NOT_OBJECT_MESSAGE = "must be an object"
NOT_LIST_MESSAGE = "must be a list"


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_text(frag: str) -> str:
    """The unquoted text of a JSON string fragment."""
    return f"({frag} ->> '$')"


def sql_is_null(frag: str) -> str:
    """True when a fragment is absent (SQL NULL) or JSON null."""
    return f"(coalesce(json_type({frag}), 'NULL') = 'NULL')"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Rule:
    """A check on one JSON value: ``check`` in Python, ``sql_ok`` in DuckDB, one message."""

    message: str

    def check(self, value: Any) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def sql_ok(self, frag: str) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def convert(self, value: Any) -> Any:
        """The value the model keeps once the check passed."""
        return value


@dataclass(frozen=True)
class NonEmptyString(Rule):
    """Ids: a JSON string with at least one character."""

    message: str = "must be a non-empty string"

    def check(self, value: Any) -> bool:
        return isinstance(value, str) and value != ""

    def sql_ok(self, frag: str) -> str:
        return f"(json_type({frag}) = 'VARCHAR' and length({sql_text(frag)}) > 0)"


@dataclass(frozen=True)
class Email(Rule):
    """An email address; surrounding spaces are allowed because keys are ``lower(trim(email))``."""

    message: str = "must be an email address"

    def check(self, value: Any) -> bool:
        return isinstance(value, str) and _EMAIL_RE.fullmatch(value.strip(" ")) is not None

    def sql_ok(self, frag: str) -> str:
        return (
            f"(json_type({frag}) = 'VARCHAR' and "
            f"regexp_full_match(trim({sql_text(frag)}), {sql_str(EMAIL_PATTERN)}))"
        )


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO 8601 timestamp that carries ``Z`` or an offset, as UTC; None otherwise."""
    if not isinstance(value, str) or _TIMESTAMP_RE.fullmatch(value) is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class Timestamp(Rule):
    """A required timestamp: ISO 8601 with a zone (specification, "Fine print: input")."""

    message: str = "must be an ISO 8601 timestamp with a zone (Z or +HH:MM)"

    def check(self, value: Any) -> bool:
        return parse_timestamp(value) is not None

    def sql_ok(self, frag: str) -> str:
        return f"(json_type({frag}) = 'VARCHAR' and {self.sql_text_ok(sql_text(frag))})"

    def sql_text_ok(self, text: str) -> str:
        """The check on the text of a value already known to be a JSON string (the loader's
        quick path reads the text directly)."""
        return (
            f"(regexp_full_match({text}, {sql_str(TIMESTAMP_PATTERN)}) and "
            f"try_cast({text} as timestamptz) is not null)"
        )

    def convert(self, value: Any) -> Any:
        return parse_timestamp(value)


@dataclass(frozen=True)
class OneOf(Rule):
    """A value from a listed set (statuses, sentiment, channel, ...)."""

    values: tuple[str, ...] = ()
    message: str = ""

    def __post_init__(self) -> None:
        if not self.message:
            object.__setattr__(self, "message", "must be one of: " + ", ".join(self.values))

    def check(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.values

    def sql_ok(self, frag: str) -> str:
        listed = ", ".join(sql_str(v) for v in self.values)
        return f"(json_type({frag}) = 'VARCHAR' and {sql_text(frag)} in ({listed}))"


@dataclass(frozen=True)
class Integer(Rule):
    """A JSON integer (not 5.0, not "5") within optional bounds, optionally not zero."""

    minimum: int | None = None
    maximum: int | None = None
    nonzero: bool = False
    message: str = ""

    def __post_init__(self) -> None:
        if self.message:
            return
        if self.minimum is not None and self.maximum is not None:
            text = f"must be an integer from {self.minimum} to {self.maximum}"
        elif self.minimum == 1:
            text = "must be a positive integer"
        elif self.minimum == 0:
            text = "must be a non-negative integer"
        elif self.nonzero:
            text = "must be a non-zero integer"
        else:
            text = "must be an integer"
        object.__setattr__(self, "message", text)

    def check(self, value: Any) -> bool:
        if not _is_int(value):
            return False
        if self.minimum is not None and value < self.minimum:
            return False
        if self.maximum is not None and value > self.maximum:
            return False
        return not (self.nonzero and value == 0)

    def sql_ok(self, frag: str) -> str:
        # try_cast: SQL's AND does not short-circuit, the cast also sees non-integers.
        number = f"try_cast({frag} as hugeint)"
        parts = [f"json_type({frag}) in ('BIGINT', 'UBIGINT')"]
        if self.minimum is not None:
            parts.append(f"{number} >= {self.minimum}")
        if self.maximum is not None:
            parts.append(f"{number} <= {self.maximum}")
        if self.nonzero:
            parts.append(f"{number} <> 0")
        return "(" + " and ".join(parts) + ")"


def parse_decimal(value: Any) -> Decimal | None:
    """A money amount sent as a decimal string or a JSON number; None when unparseable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            result = Decimal(str(value))
        except InvalidOperation:
            return None
        return result if result.is_finite() else None
    if isinstance(value, str) and _DECIMAL_RE.fullmatch(value):
        return Decimal(value)
    return None


@dataclass(frozen=True)
class DecimalAmount(Rule):
    """``totalPrice`` and ``spendThreshold``: a decimal string or a number."""

    message: str = "must be a decimal number"

    def check(self, value: Any) -> bool:
        return parse_decimal(value) is not None

    def sql_ok(self, frag: str) -> str:
        return (
            f"(json_type({frag}) in ('BIGINT', 'UBIGINT', 'DOUBLE') or "
            f"(json_type({frag}) = 'VARCHAR' and "
            f"regexp_full_match({sql_text(frag)}, {sql_str(DECIMAL_PATTERN)})))"
        )

    def convert(self, value: Any) -> Any:
        return parse_decimal(value)


@dataclass(frozen=True)
class SequenceNumber(Rule):
    """A string of digits, compared as an integer (so at most 38 significant digits)."""

    message: str = "must be a string of digits"

    def check(self, value: Any) -> bool:
        return (
            isinstance(value, str)
            and _DIGITS_RE.fullmatch(value) is not None
            and len(value.lstrip("0")) <= MAX_SEQUENCE_DIGITS
        )

    def sql_ok(self, frag: str) -> str:
        text = sql_text(frag)
        return (
            f"(json_type({frag}) = 'VARCHAR' and regexp_full_match({text}, "
            f"{sql_str(DIGITS_PATTERN)}) and length(ltrim({text}, '0')) <= {MAX_SEQUENCE_DIGITS})"
        )


@dataclass(frozen=True)
class WhenRule:
    """A rule on one key of an object that applies when another key has a given value.

    Survey answers need it: ``value`` must be an integer 0..10 when ``questionType`` is ``nps``.
    """

    when_key: str
    when_value: str
    key: str
    rule: Rule
