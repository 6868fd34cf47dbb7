"""The journal writes one row per row of every batch, whether Python or SQL built the batch,
and whether it was written at once or by its writer thread."""

import json

import duckdb

from okendo_pipeline.lib.destinations import Batch, BatchResult, Item, ItemOutcome
from okendo_pipeline.lib.sync import schema
from okendo_pipeline.lib.sync.journal import Journal

ODD_KEYS = ['c"1', "c\\2", "ç3 ☃", "c,4"]  # quotes, backslashes, non-ASCII, commas


def rendered(keys: list[str], ops: list[str]) -> Batch:
    """A batch as ``profile_bodies`` hands it over: keys and operations as JSON text."""
    body = ",".join("{}" for _ in keys).encode()
    return Batch(joined=body, keys_json=json.dumps(keys), operations_json=json.dumps(ops),
                 count=len(keys))  # fmt: skip


def logged(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    return conn.execute(
        "select kind, row_key, operation, status, message, seq from sync.row_log order by seq"
    ).fetchall()


def test_rows_of_every_kind_of_batch_are_journaled_in_order(tmp_path):
    conn = duckdb.connect(str(tmp_path / "j.duckdb"))
    schema.ensure_schema(conn)
    items = Batch(items=[Item(f"e{n}", "x", {}) for n in range(3)])
    with Journal(conn, "run-1", "braze") as journal:
        whole = BatchResult(rendered(ODD_KEYS, ["create", "update", "create", "update"]))
        journal.add_result("profile", whole, None)
        journal.flush_soon()  # through the writer thread
        some = BatchResult(
            rendered(["a", "b", "c"], ["update"] * 3),
            exceptions={1: ("rejected", "too long"), 2: ("retry", "later")},
        )
        journal.add_result("profile", some, None)
        journal.add_result("profile", BatchResult(items, "retry", "HTTP 503"), ["u1", "u2", "u3"])
        journal.add("event", items, "track", "sending")
    # Leaving the journal wrote everything, in the order it was added.
    assert logged(conn) == [
        ("profile", 'c"1', "create", "accepted", None, 0),
        ("profile", "c\\2", "update", "accepted", None, 1),
        ("profile", "ç3 ☃", "create", "accepted", None, 2),
        ("profile", "c,4", "update", "accepted", None, 3),
        ("profile", "a", "update", "accepted", None, 4),
        ("profile", "b", "update", "rejected", "too long", 5),
        ("profile", "c", "update", "retry", "later", 6),
        ("profile", "e0", "u1", "retry", "HTTP 503", 7),
        ("profile", "e1", "u2", "retry", "HTTP 503", 8),
        ("profile", "e2", "u3", "retry", "HTTP 503", 9),
        ("event", "e0", "track", "sending", None, 10),
        ("event", "e1", "track", "sending", None, 11),
        ("event", "e2", "track", "sending", None, 12),
    ]


def test_a_result_counts_and_lists_its_rows_without_an_object_per_row():
    batch = rendered(["a", "b", "c", "d"], ["create"] * 4)
    result = BatchResult(batch, exceptions={0: ("rejected", "bad"), 3: ("rejected", "bad")})
    assert (result.count("accepted"), result.count("rejected"), result.count("retry")) == (2, 2, 0)
    assert result.reasons("rejected") == {"bad": 2}
    assert result.outcomes == [
        ItemOutcome("a", "rejected", "bad"),
        ItemOutcome("b", "accepted"),
        ItemOutcome("c", "accepted"),
        ItemOutcome("d", "rejected", "bad"),
    ]
    failed = BatchResult(batch, "retry", "HTTP 500")
    assert failed.count("retry") == 4 and failed.count("accepted") == 0
    assert failed.reasons("retry") == {"HTTP 500": 4}
    per_row = [ItemOutcome("a", "accepted"), ItemOutcome("b", "retry", "slow")]
    again = BatchResult.per_row(rendered(["a", "b"], ["x", "x"]), per_row)
    assert again.outcomes == per_row and again.exceptions == {1: ("retry", "slow")}
