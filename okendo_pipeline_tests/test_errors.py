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


def test_a_sync_run_stopped_by_a_warehouse_error_records_no_address(built) -> None:
    """Through the sync engine: a plan whose SQL fails on a customer's email (a codec that
    casts it to a number) records and raises the error without the address."""
    import dataclasses
    import uuid
    from datetime import date

    from okendo_pipeline.defs.iterable.resources import IterableResource
    from okendo_pipeline.lib import warehouse
    from okendo_pipeline.lib.sync.run import begin_run
    from okendo_pipeline.lib.sync.settings import SyncSettings

    _, db = built
    codec = dataclasses.replace(
        IterableResource(api_key="k").codec(), identity_sql="cast(email as integer)"
    )
    run_id = str(uuid.uuid4())
    with warehouse.connect(db) as conn:
        with pytest.raises(WarehouseError) as raised:
            begin_run(conn, codec, run_id, SyncSettings(as_of=date(2026, 11, 1)))
        status, error = conn.execute(
            "select status, error from sync.runs where run_id = ?", [run_id]
        ).fetchone()
    # The DuckDB error is not shown with it (Dagster's error record honours the suppression).
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert "@" not in str(raised.value) and "Conversion" in str(raised.value)
    assert status == "failed" and "@" not in error and error.startswith("ConversionException")
