"""What a sync run says about a warehouse error, without the customer data DuckDB quotes.

DuckDB names the value it failed on (``Could not convert string 'alice@example.com'``, a
malformed JSON input, the SQL line with a literal). A run's error goes to ``sync.runs.error``,
the run's log and Dagster's event log, where an erased person's address could not be found and
removed again; so each line is cut at its first quote, and the error's kind and the words
before the cut are kept.
"""

import re

import duckdb

# From the first quote on a line to its end: a quoted value may hold quotes of its own (DuckDB
# prints it unescaped), so nothing after the first is trusted.
_QUOTED = re.compile(r"['\"].*")


class WarehouseError(RuntimeError):
    """A DuckDB error with the values it quoted taken out (``scrubbed``)."""


def scrubbed(exc: BaseException) -> BaseException:
    """``exc`` itself, or for a DuckDB error a ``WarehouseError`` naming its kind, each line of
    its message cut at its first quote (``'…'`` marks the cut)."""
    if not isinstance(exc, duckdb.Error):
        return exc
    return WarehouseError(f"{type(exc).__name__}: " + _QUOTED.sub("'…'", str(exc)))


def describe(exc: BaseException) -> str:
    """The text a run records for an error: its kind and message, scrubbed."""
    safe = scrubbed(exc)
    return str(safe) if safe is not exc else f"{type(exc).__name__}: {exc}"
