"""Loading landing files into DuckDB: idempotency, ordering, duplicates, deletes, bad input."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import duckdb
import pytest

from okendo_pipeline.lib.okendo.loader import ensure_schema, load_landing
from okendo_pipeline_tests.samples import envelope, resource, write_landing


def table(conn: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return conn.execute(sql).fetchall()


def current(conn: duckdb.DuckDBPyConnection, resource_type: str) -> dict[str, tuple]:
    rows = table(
        conn,
        f"select resource_id, sequence_number, topic, resource->>'$.rating', customer_key "
        f"from raw.current_resources where resource_type = '{resource_type}'",
    )
    return {r[0]: r[1:] for r in rows}


def snapshot(conn: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {
        name: table(conn, f"select * exclude (load_id, loaded_at) from raw.{name} order by all")
        for name in ("envelopes", "current_resources", "rejected_records")
    }


def test_loading_twice_changes_nothing(landing: Path, conn: duckdb.DuckDBPyConnection) -> None:
    write_landing(landing, "review", "a.jsonl", [envelope("review", 1), "not json"])
    first = load_landing(conn, landing)
    before = snapshot(conn)
    second = load_landing(conn, landing)
    assert (first.files_loaded, first.envelopes_new, first.rejected) == (1, 1, 1)
    assert (second.files_loaded, second.files_skipped, second.envelopes_new, second.rejected) == (
        0,
        1,
        0,
        0,
    )
    assert snapshot(conn) == before
    assert table(conn, "select count(*) from raw.loaded_files") == [(1,)]
    assert table(conn, "select count(*) from raw.loads") == [(2,)]


def test_touched_file_with_same_content_is_not_reloaded(
    landing: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    path = write_landing(landing, "review", "a.jsonl", [envelope("review", 1)])
    load_landing(conn, landing)
    os.utime(path, ns=(1, 1))  # a copy or restore changes mtime, not content
    again = load_landing(conn, landing)
    assert (again.files_loaded, again.files_skipped) == (0, 1)


def test_changed_file_is_loaded_again_and_reported(
    landing: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    write_landing(landing, "review", "a.jsonl", [envelope("review", 1)])
    load_landing(conn, landing)
    write_landing(
        landing, "review", "a.jsonl", [envelope("review", 1), envelope("review", 2, rating=3)]
    )
    report = load_landing(conn, landing)
    assert report.files_changed == ["review/a.jsonl"]
    assert (report.envelopes_new, report.envelopes_duplicate) == (1, 1)
    assert current(conn, "review")["r-1"][:3] == (2, "create", "3")


def test_out_of_order_and_duplicated_envelopes(
    landing: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    # The update (seq 3) arrives in an earlier file than the create (seq 1); seq 2 twice.
    write_landing(landing, "review", "1.jsonl", [envelope("review", 3, "update", rating=2)])
    write_landing(
        landing,
        "review",
        "2.jsonl",
        [envelope("review", 1, rating=5), envelope("review", 2, "update", rating=4)],
    )
    write_landing(landing, "review", "3.jsonl", [envelope("review", 2, "update", rating=4)])
    report = load_landing(conn, landing)
    assert (report.envelopes_new, report.envelopes_duplicate) == (3, 1)
    assert current(conn, "review") == {"r-1": (3, "update", "2", "ada@example.com")}
    # Later delivery of an older version changes nothing.
    write_landing(landing, "review", "4.jsonl", [envelope("review", "0000000", rating=1)])
    load_landing(conn, landing)
    assert current(conn, "review")["r-1"][0] == 3


def test_a_repeated_envelope_keeps_the_copy_seen_first(
    landing: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    """Two copies of one (type, id, sequence number) in one load, with different payloads: the
    copy from the file that sorts first wins, and within a file the earlier line; a copy in a
    later load is a duplicate whatever it says."""
    write_landing(landing, "review", "b.jsonl", [envelope("review", 2, "update", rating=4)])
    write_landing(
        landing,
        "review",
        "a.jsonl",
        [envelope("review", 1, rating=5), envelope("review", 2, "update", rating=3),
         envelope("review", 2, "update", rating=1)],
    )  # fmt: skip
    report = load_landing(conn, landing)
    assert (report.envelopes_new, report.envelopes_duplicate) == (2, 2)
    assert current(conn, "review")["r-1"][:3] == (2, "update", "3")
    kept = table(
        conn,
        "select file, line, resource->>'$.rating' from raw.envelopes where sequence_number = 2",
    )
    assert [(Path(f).name, n, r) for f, n, r in kept] == [("a.jsonl", 2, "3")]
    write_landing(landing, "review", "c.jsonl", [envelope("review", 2, "update", rating=2)])
    assert load_landing(conn, landing).envelopes_duplicate == 1
    assert current(conn, "review")["r-1"][:3] == (2, "update", "3")


def test_sequence_numbers_compare_as_integers(
    landing: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    write_landing(
        landing,
        "review",
        "a.jsonl",
        [
            envelope("review", "9", rating=1),
            envelope("review", "10", "update", rating=2),
            envelope("review", "0010", "update", rating=5),  # same integer as "10": a duplicate
        ],
    )
    report = load_landing(conn, landing)
    assert report.envelopes_duplicate == 1
    assert current(conn, "review")["r-1"][:3] == (10, "update", "2")


def test_deletes_apply_by_sequence_number(landing: Path, conn: duckdb.DuckDBPyConnection) -> None:
    write_landing(
        landing,
        "review",
        "a.jsonl",
        [
            envelope("review", 1, res=resource("review", reviewId="gone")),
            envelope("review", 5, "delete", res={"reviewId": "gone"}),
            envelope("review", 1, res=resource("review", reviewId="back")),
            envelope("review", 2, "delete", res={"reviewId": "back"}),
        ],
    )
    # A create with a higher sequence number than the delete brings "back" back.
    write_landing(
        landing,
        "review",
        "b.jsonl",
        [envelope("review", 3, "update", res=resource("review", reviewId="back"))],
    )
    load_landing(conn, landing)  # a first load: every key's winner at once
    assert set(current(conn, "review")) == {"back"}
    assert table(conn, "select count(*) from raw.envelopes where resource_id = 'gone'") == [(2,)]
    # a later load recomputes the keys it touched: "back" deleted, "new" added, "gone" stays gone
    write_landing(
        landing,
        "review",
        "c.jsonl",
        [
            envelope("review", 4, "delete", res={"reviewId": "back"}),
            envelope("review", 1, res=resource("review", reviewId="new")),
            envelope("review", 4, "delete", res={"reviewId": "gone"}),
        ],
    )
    load_landing(conn, landing)
    assert set(current(conn, "review")) == {"new"}


def test_gzip_files_load_like_plain_ones(landing: Path, conn: duckdb.DuckDBPyConnection) -> None:
    write_landing(landing, "order", "a.jsonl.gz", [envelope("order", 1), "{oops"], gz=True)
    report = load_landing(conn, landing)
    assert (report.envelopes_new, report.rejected) == (1, 1)
    assert table(conn, "select file, line, reason from raw.rejected_records") == [
        ("order/a.jsonl.gz", 2, "line is not valid JSON")
    ]


def test_bad_lines_are_kept_with_file_line_reason_and_raw_text(
    landing: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    bad_rule = json.dumps(envelope("review", 2, rating=11))
    missing = json.dumps(envelope("review", 3, productName=...))
    write_landing(
        landing,
        "review",
        "a.jsonl",
        [
            envelope("review", 1),
            "{broken json",
            "",
            bad_rule,
            missing,
            envelope("review", 4, res=resource("review", reviewId="r-4")),
        ],
    )
    report = load_landing(conn, landing)
    assert (report.envelopes_new, report.rejected, report.lines) == (2, 3, 5)
    rows = table(
        conn,
        "select resource_type, file, line, reason, raw from raw.rejected_records order by line",
    )
    assert rows == [
        ("review", "review/a.jsonl", 2, "line is not valid JSON", "{broken json"),
        (
            "review",
            "review/a.jsonl",
            4,
            "resource.rating: must be an integer from 1 to 5",
            bad_rule,
        ),
        ("review", "review/a.jsonl", 5, "resource.productName: is missing or null", missing),
    ]


def test_a_bad_line_counts_once_per_file(landing: Path, conn: duckdb.DuckDBPyConnection) -> None:
    write_landing(landing, "review", "a.jsonl", ["{bad", "{bad"])
    write_landing(landing, "review", "b.jsonl", ["{bad"])
    report = load_landing(conn, landing)
    assert report.rejected == 2
    assert table(conn, "select file, line from raw.rejected_records order by file") == [
        ("review/a.jsonl", 1),
        ("review/b.jsonl", 1),
    ]


def test_crlf_blank_lines_and_invalid_utf8(landing: Path, conn: duckdb.DuckDBPyConnection) -> None:
    path = landing / "review" / "a.jsonl"
    path.parent.mkdir(parents=True)
    good = json.dumps(envelope("review", 1)).encode()
    # blank lines of any length (the fourth is longer than the parse's short-line shortcut)
    blanks = b"\r\n\r\n   \n" + b" \t" * 12 + b"\r\n"
    path.write_bytes(good + blanks + b'{"x": "\xff"}\n')
    report = load_landing(conn, landing)
    assert (report.lines, report.envelopes_new, report.rejected) == (2, 1, 1)
    assert table(conn, "select line, reason from raw.rejected_records") == [
        (5, "line is not valid UTF-8")
    ]


def test_a_batch_of_mixed_files_loads_every_line_and_records_each_files_hash(
    landing: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    """Plain and gzip files, a line of invalid UTF-8 and a name with pattern characters, in one
    batch: every good line loads, each bad one is rejected with its reason, and the manifest
    records the sha256 of each file's bytes on disk (hashed from the bytes the lines came
    from, in the reader thread)."""
    write_landing(landing, "review", "a.jsonl", [envelope("review", 1), envelope("review", 2)])
    bad = landing / "review" / "b.jsonl"
    bad.write_bytes(json.dumps(envelope("review", 3)).encode() + b'\n{"x": "\xff"}\n')
    write_landing(landing, "review", "c[1].jsonl", [envelope("review", 4)])
    write_landing(landing, "review", "d.jsonl.gz", [envelope("review", 5)], gz=True)
    write_landing(landing, "review", "e.jsonl", [envelope("review", 6), "{oops"])
    report = load_landing(conn, landing)
    assert (report.files_loaded, report.envelopes_new, report.rejected) == (5, 6, 2)
    assert table(conn, "select file, line, reason from raw.rejected_records order by file") == [
        ("review/b.jsonl", 2, "line is not valid UTF-8"),
        ("review/e.jsonl", 2, "line is not valid JSON"),
    ]
    assert table(conn, "select file, line from raw.envelopes order by all") == [
        ("review/a.jsonl", 1),
        ("review/a.jsonl", 2),
        ("review/b.jsonl", 1),
        ("review/c[1].jsonl", 1),
        ("review/d.jsonl.gz", 1),
        ("review/e.jsonl", 1),
    ]
    hashes = dict(table(conn, "select file, content_hash from raw.loaded_files"))
    for name, digest in hashes.items():
        assert digest == hashlib.sha256((landing / name).read_bytes()).hexdigest(), name


def test_a_large_file_with_no_quick_line_loads_whole_beside_other_folders(
    landing: Path, tmp_path: Path
) -> None:
    """A file with a line that is not UTF-8 takes the full validation whole, so its folder's
    quick insert is empty. With DuckDB's default ``preserve_insertion_order`` (the warehouse's
    connections turn it off; ``load_landing`` takes any connection), an empty insert inside a
    transaction hid the next large insert (over one row group, 122,880 rows) from the
    transaction's later reads, and the file was recorded as loaded without its envelopes:
    the parse now runs before the batch's transaction."""
    path = landing / "review_request" / "big.jsonl"
    path.parent.mkdir(parents=True)
    lines = 130_000
    template = json.dumps(envelope("review_request", 0, reviewRequestId="ID"))
    with path.open("wb") as fh:
        for n in range(1, lines + 1):
            line = template.replace('"000000"', f'"{n:09d}"').replace('"ID"', f'"rr-{n}"')
            fh.write(line.encode() + b"\n")
        fh.write(b'{"x": "\xff"}\n')
    write_landing(landing, "survey_response", "a.jsonl", [envelope("survey_response", 1)])
    conn = duckdb.connect(str(tmp_path / "default-settings.duckdb"))
    report = load_landing(conn, landing)
    assert (report.envelopes_new, report.rejected) == (lines + 1, 1)
    assert table(conn, "select count(*) from raw.envelopes") == [(lines + 1,)]
    assert table(conn, "select file, lines, envelopes_new from raw.loaded_files order by 1") == [
        ("review_request/big.jsonl", lines + 1, lines),
        ("survey_response/a.jsonl", 1, 1),
    ]
    conn.close()


def test_unreadable_file_is_recorded_not_fatal(
    landing: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    (landing / "review").mkdir()
    (landing / "review" / "broken.jsonl.gz").write_bytes(b"this is not gzip")
    write_landing(landing, "review", "ok.jsonl", [envelope("review", 1)])
    report = load_landing(conn, landing)
    assert (report.files_loaded, report.envelopes_new, report.rejected) == (2, 1, 1)
    (reason,) = table(
        conn, "select reason from raw.rejected_records where file = 'review/broken.jsonl.gz'"
    )[0]
    assert reason.startswith("file could not be read:")
    # its bytes are hashed all the same: touched but unchanged, it is not read again
    broken = landing / "review" / "broken.jsonl.gz"
    assert table(conn, "select content_hash from raw.loaded_files where file like '%broken%'") == [
        (hashlib.sha256(broken.read_bytes()).hexdigest(),)
    ]
    os.utime(broken, ns=(1, 1))
    again = load_landing(conn, landing)
    assert (again.files_loaded, again.rejected) == (0, 0)


def test_only_envelope_files_directly_in_type_folders(
    landing: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    write_landing(landing, "review", "a.jsonl", [envelope("review", 1)])
    write_landing(landing, "review", "a.jsonl.tmp", [envelope("review", 2)])  # still being written
    write_landing(landing, "review/nested", "b.jsonl", [envelope("review", 3)])
    write_landing(landing, "unknown_type", "c.jsonl", [{"resourceType": "unknown_type"}])
    (landing / "stray.jsonl").write_text("{}\n")
    report = load_landing(conn, landing)
    assert report.files_seen == 2
    assert table(conn, "select resource_type, reason from raw.rejected_records") == [
        ("unknown_type", "resourceType: must be one of the 13 Okendo resource types")
    ]


def test_customer_key_is_trimmed_lower_email_from_the_keying_path(
    landing: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    write_landing(
        landing,
        "review",
        "a.jsonl",
        [envelope("review", 1, reviewer={"email": "  Ada@Example.COM "})],
    )
    write_landing(landing, "referral", "a.jsonl", [envelope("referral", 1)])
    write_landing(landing, "loyalty_vip_tier", "a.jsonl", [envelope("loyalty_vip_tier", 1)])
    load_landing(conn, landing)
    keys = dict(table(conn, "select resource_type, customer_key from raw.current_resources"))
    assert keys == {
        "review": "ada@example.com",
        "referral": "bob@example.com",
        "loyalty_vip_tier": None,
    }


def test_unknown_fields_are_kept(landing: Path, conn: duckdb.DuckDBPyConnection) -> None:
    write_landing(landing, "order", "a.jsonl", [envelope("order", 1, giftWrap={"paper": "gold"})])
    load_landing(conn, landing)
    assert table(conn, "select resource->>'$.giftWrap.paper' from raw.current_resources") == [
        ("gold",)
    ]


def test_batches_are_independent_transactions(
    landing: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    for n in range(5):
        write_landing(
            landing,
            "order",
            f"{n}.jsonl",
            [envelope("order", n + 1, res=resource("order", orderId=f"o{n}"))],
        )
    report = load_landing(conn, landing, batch_bytes=1)  # one file per batch
    assert report.files_loaded == 5
    assert table(conn, "select count(*) from raw.current_resources") == [(5,)]


def test_a_load_interrupted_before_the_current_state_is_repaired_by_the_next(
    landing: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    write_landing(landing, "review", "0.jsonl", [envelope("review", 1, reviewId="r-0")])
    load_landing(conn, landing)  # a current state exists: later loads list what they touch
    write_landing(landing, "review", "a.jsonl", [envelope("review", 1, rating=5)])
    write_landing(landing, "review", "b.jsonl", [envelope("review", 2, "update", rating=2)])
    # A real fault at the last step: the current-state table is not writable.
    conn.execute("create table saved as select * from raw.current_resources")
    conn.execute("drop table raw.current_resources")
    conn.execute("create view raw.current_resources as select * from saved")
    with pytest.raises(duckdb.Error):
        load_landing(conn, landing, batch_bytes=1)
    # Both batches committed with their manifest rows; the current state was never written.
    assert table(conn, "select count(*) from raw.loaded_files") == [(3,)]
    assert table(
        conn, "select count(distinct (resource_type, resource_id)) from raw.pending_current"
    ) == [(1,)]
    conn.execute("drop view raw.current_resources")
    conn.execute("create table raw.current_resources as select * from saved")
    again = load_landing(conn, landing)
    assert again.files_loaded == 0  # nothing is read twice
    assert current(conn, "review") == {
        "r-0": (1, "create", "5", "ada@example.com"),
        "r-1": (2, "update", "2", "ada@example.com"),
    }
    assert table(conn, "select count(*) from raw.pending_current") == [(0,)]


def test_an_interrupted_first_load_is_repaired_from_the_whole_history(
    landing: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    """A first load lists nothing as pending: with no current state, the next load computes
    it from every key of the history and touches every customer."""
    write_landing(landing, "review", "a.jsonl", [envelope("review", 1, rating=5)])
    write_landing(landing, "review", "b.jsonl", [envelope("review", 2, "update", rating=2)])
    write_landing(landing, "customer", "c.jsonl", [envelope("customer", 1, email="Bo@X.io")])
    ensure_schema(conn)
    conn.execute("drop table raw.current_resources")
    conn.execute("create view raw.current_resources as select * from raw.envelopes where false")
    with pytest.raises(duckdb.Error):
        load_landing(conn, landing, batch_bytes=1)
    assert table(conn, "select count(*) from raw.loaded_files") == [(3,)]
    assert table(conn, "select count(*) from raw.pending_current") == [(0,)]
    conn.execute("drop view raw.current_resources")
    ensure_schema(conn)  # the table again, as the loader creates it
    again = load_landing(conn, landing)
    assert again.files_loaded == 0
    assert current(conn, "review") == {"r-1": (2, "update", "2", "ada@example.com")}
    assert table(conn, "select distinct customer_key from raw.touched_customers order by 1") == [
        ("ada@example.com",),
        ("bo@x.io",),
    ]


def test_a_load_records_the_resource_types_of_what_it_touched(
    landing: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    """Each load after the first records the types of the records whose current state it
    changed, and only those: a referral reaches its referrer's customer as a referral. A
    duplicate changes nothing and records nothing; a first load records no types (any)."""
    write_landing(landing, "customer", "a.jsonl", [envelope("customer", 1)])
    write_landing(landing, "referrer", "a.jsonl", [envelope("referrer", 1)])
    first = load_landing(conn, landing)
    assert table(conn, "select count(*) from raw.touched_types") == [(0,)]
    write_landing(landing, "referral", "b.jsonl", [envelope("referral", 1)])
    write_landing(landing, "customer", "b.jsonl", [envelope("customer", 1)])  # a duplicate
    second = load_landing(conn, landing)
    assert first.load_id != second.load_id
    assert table(conn, "select resource_type, load_id from raw.touched_types") == [
        ("referral", second.load_id)
    ]
    touched = conn.execute(
        "select customer_key from raw.touched_customers where load_id = ? order by 1",
        [second.load_id],
    ).fetchall()
    assert touched == [("ada@example.com",), ("bob@example.com",)]  # the referrer, the recipient
