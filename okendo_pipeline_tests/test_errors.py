"""A sync run's record of a warehouse error keeps no customer data DuckDB quoted."""

import duckdb
import pytest

from okendo_pipeline.lib.sync.errors import WarehouseError, describe, scrubbed

EMAIL = "alice.o'neil@example.com"


@pytest.mark.parametrize(
    "sql",
    [
        f"select '{EMAIL.replace(chr(39), chr(39) * 2)}'::int",  # the value, and the SQL line
        f"select json_extract('{{\"email\": \"{EMAIL.replace(chr(39), chr(39) * 2)}\"', '$.a')",
    ],
)
def test_duckdb_errors_lose_the_values_they_quote(sql: str) -> None:
    with pytest.raises(duckdb.Error) as caught:
        duckdb.connect().execute(sql)
    assert "alice" in str(caught.value)  # DuckDB does quote it
    safe = scrubbed(caught.value)
    assert isinstance(safe, WarehouseError)
    assert "alice" not in str(safe) and "alice" not in describe(caught.value)
    assert str(safe).startswith(type(caught.value).__name__ + ": ")  # the kind stays
    assert "'…'" in str(safe)


def test_other_errors_pass_unchanged() -> None:
    error = ValueError("batch 3 of 9 failed")
    assert scrubbed(error) is error
    assert describe(error) == "ValueError: batch 3 of 9 failed"
