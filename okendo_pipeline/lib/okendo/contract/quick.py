"""A quick check that accepts a landing line only when every contract rule surely passes.

The set-based SQL (``validation.parsed_sql``) names every failing rule of a line, and for that
it reads each field's JSON type and text in DuckDB: about 15 µs of CPU a review line, most of
the load of a large folder. Nearly every line is valid, and a valid line needs no reason. So the
loader first decodes each line with msgspec into types compiled from the same pydantic models
and rule objects, in C: a line it accepts skips the rules and only has its columns read; a
line it does not accept (rejected, or beyond what the quick types can say) takes the full SQL,
which gives the reason. The quick types accept a subset of what the rules accept, never more:

- a rule with no exact msgspec form makes its whole resource type take the full SQL (a
  non-zero integer: loyalty adjustments), and so does a delete, whose resource may be partial;
  a survey answer's rule across fields becomes a union tagged by its questionType, so an
  answer without one takes the full SQL;
- integers are bounded to 64 bits (DuckDB reads a larger one as a DOUBLE), sequence numbers to
  38 digits, and JSON that DuckDB tolerates but the standard does not (trailing commas, NaN)
  takes the full SQL;
- a required timestamp is only read as a string here: the loader checks its text in DuckDB
  with the rule's own pattern and cast, and a line that fails goes to the full SQL.

An object that repeats a key: msgspec checks every occurrence (each must pass) and DuckDB reads
the first, so a line the quick check accepts is read as the full SQL would read it.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec

from okendo_pipeline.lib.okendo.contract import rules
from okendo_pipeline.lib.okendo.contract.models import (
    RESOURCE_MODELS,
    SEQUENCE,
    TOPIC,
    OkendoModel,
)
from okendo_pipeline.lib.okendo.contract.validation import is_model, rule_of, unwrap_optional

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Any JSON value but null: a required field with no rule of its own.
NOT_NULL = str | int | float | bool | list | dict


class Unsupported(Exception):
    """A rule the quick types cannot state exactly: the type takes the full SQL."""


def _anchored(pattern: str) -> str:
    return r"\A(?:" + pattern + r")\Z"


def _rule_type(rule: rules.Rule) -> Any:
    """The msgspec type that accepts only values ``rule`` accepts (``Timestamp``: its text)."""
    if isinstance(rule, rules.NonEmptyString):
        return Annotated[str, msgspec.Meta(min_length=1)]
    if isinstance(rule, rules.Email):
        # Spaces around the address are allowed (the key trims them); Python's \s is wider
        # than RE2's, so the address itself matches only where the SQL's pattern does too.
        return Annotated[str, msgspec.Meta(pattern=r"\A *(?:" + rules.EMAIL_PATTERN + r") *\Z")]
    if isinstance(rule, rules.OneOf):
        return Literal[rule.values]  # type: ignore[valid-type]
    if isinstance(rule, rules.Integer) and not rule.nonzero:
        low = INT64_MIN if rule.minimum is None else max(rule.minimum, INT64_MIN)
        high = INT64_MAX if rule.maximum is None else min(rule.maximum, INT64_MAX)
        return Annotated[int, msgspec.Meta(ge=low, le=high)]
    if isinstance(rule, rules.DecimalAmount):
        decimal = Annotated[str, msgspec.Meta(pattern=_anchored(rules.DECIMAL_PATTERN))]
        return decimal | int | float
    if isinstance(rule, rules.SequenceNumber):
        digits = f"[0-9]{{1,{rules.MAX_SEQUENCE_DIGITS}}}"
        return Annotated[str, msgspec.Meta(pattern=_anchored(digits))]
    if isinstance(rule, rules.Timestamp):
        return str  # the loader checks the text in DuckDB
    raise Unsupported(type(rule).__name__)


def _fields(model: type[OkendoModel]) -> dict[str, tuple[Any, bool]]:
    """Each field some rule reads: its msgspec type and whether it is required."""
    out: dict[str, tuple[Any, bool]] = {}
    for field in model.model_fields.values():
        annotation = unwrap_optional(field.annotation)
        rule = rule_of(field)
        if rule is not None:
            kind = _rule_type(rule)
        elif is_model(annotation):
            kind = _struct(annotation)
        elif typing.get_origin(annotation) is dict:
            kind = dict
        elif typing.get_origin(annotation) is list:
            (item,) = typing.get_args(annotation)
            kind = list[_struct(item)] if is_model(item) else list
        elif field.is_required():
            kind = NOT_NULL
        else:
            continue  # any value, or none: nothing to check
        out[field.alias or ""] = (kind, field.is_required())
    return out


def _define(name: str, fields: dict[str, tuple[Any, bool]], **options: Any) -> Any:
    required = [(key, kind) for key, (kind, needed) in fields.items() if needed]
    optional = [(key, kind | None, None) for key, (kind, needed) in fields.items() if not needed]
    # gc=False: the decoded objects are dropped at once and never form cycles (6% faster).
    return msgspec.defstruct(name, [*required, *optional], gc=False, **options)


def _tagged(model: type[OkendoModel], fields: dict[str, tuple[Any, bool]]) -> Any:
    """Rules across fields (a survey answer's value must be an integer 0..10 when its
    questionType is nps): a tagged union on the deciding key, one variant per listed value,
    each requiring what its value's rules require. An object without the key, or with a value
    not listed, fails the union and takes the full SQL."""
    (when_key,) = {when.when_key for when in model.when_rules}
    decider = next(f for f in model.model_fields.values() if f.alias == when_key)
    listed = rule_of(decider)
    if not isinstance(listed, rules.OneOf):
        raise Unsupported(f"{model.__name__}.{when_key}: not a listed set")
    base = {key: value for key, value in fields.items() if key != when_key}
    variants = []
    for value in listed.values:
        own = dict(base)
        for when in model.when_rules:
            if when.when_value == value:
                own[when.key] = (_rule_type(when.rule), True)
        name = f"{model.__name__}_{len(variants)}"
        variants.append(_define(name, own, tag_field=when_key, tag=value))
    return typing.Union[tuple(variants)]  # noqa: UP007 - a union built at run time


@functools.cache
def _struct(model: type[OkendoModel]) -> Any:
    """The msgspec type of ``model``: the fields some rule reads; unknown fields ignored."""
    fields = _fields(model)
    if model.when_rules:
        return _tagged(model, fields)
    return _define(model.__name__, fields)


def timestamp_fields(folder: str) -> list[str]:
    """The resource's required timestamps: the quick types read them as text, and the loader
    checks them in DuckDB with the rule's pattern and cast."""
    model = RESOURCE_MODELS[folder]
    return [
        field.alias or ""
        for field in model.model_fields.values()
        if isinstance(rule_of(field), rules.Timestamp)
    ]


@functools.cache
def checker(folder: str) -> Callable[[str], bool] | None:
    """For a folder of a resource type the quick types can state: a function telling whether a
    line surely passes every rule but the timestamps' (see ``timestamp_fields``). None for
    other folders."""
    model = RESOURCE_MODELS.get(folder)
    if model is None:
        return None
    try:
        resource = _struct(model)
    except Unsupported:
        return None
    envelope = msgspec.defstruct(
        "Envelope",
        [
            ("resourceType", Literal[folder]),  # type: ignore[valid-type]
            ("topic", Literal[tuple(v for v in TOPIC.values if v != "delete")]),  # type: ignore[misc]
            ("sequenceNumber", _rule_type(SEQUENCE)),
            ("resource", resource),
        ],
        gc=False,
    )
    decode = msgspec.json.Decoder(envelope).decode
    errors = (msgspec.ValidationError, msgspec.DecodeError)

    def check(line: str) -> bool:
        try:
            decode(line)
        except errors:
            return False
        return True

    return check
