"""Reading a run's plan back as items to send, or as ready request bodies, a bounded chunk at
a time."""

import json
from collections.abc import Iterator

import duckdb

from okendo_pipeline.lib.destinations import Batch, BatchLimits, Item, split_joined
from okendo_pipeline.lib.sync.codec import Codec, attribute_changes
from okendo_pipeline.lib.sync.plan import ATTRIBUTES, COLUMNS

CHUNK_ROWS = 10_000
BODY_CHUNK = 200  # rendered batches read at a time


def profile_items(
    conn: duckdb.DuckDBPyConnection,
    codec: Codec,
    run_id: str,
    operations: dict[str, str],
    customers: list[str] | None = None,
) -> Iterator[Item]:
    """The planned profiles as items, only their changed fields; read ``CHUNK_ROWS`` at a time
    so memory stays bounded whatever the size of the plan (``customers``: only theirs). A codec
    that renders profiles in SQL gives the same objects its sends carry."""
    if codec.profile_sql is not None:
        yield from _rendered_profile_items(conn, codec, run_id, operations, customers)
        return
    names = ["seq", "row_key", "operation", "changed_fields", "identity_kind", "identity"]
    names += [*COLUMNS, ATTRIBUTES, "old_attributes"]
    sql = f"""
        select {", ".join(names)} from sync.outbox_profiles
        where run_id = ? and destination = ? and seq > ?
          and (?::varchar[] is null or list_contains(?::varchar[], row_key))
        order by seq limit {CHUNK_ROWS}
    """
    last = 0
    while True:
        rows = conn.execute(sql, [run_id, codec.name, last, customers, customers]).fetchall()
        if not rows:
            return
        for row in rows:
            rec = dict(zip(names, row, strict=True))
            changed = {f: rec[f] for f in rec["changed_fields"] if f != ATTRIBUTES}
            if ATTRIBUTES in rec["changed_fields"]:
                old = rec["old_attributes"] if rec["operation"] != "create" else None
                changed.update(attribute_changes(rec[ATTRIBUTES], old))
            operations[rec["row_key"]] = rec["operation"]
            yield codec.profile_item(rec["row_key"], rec["identity_kind"], rec["identity"], changed)
        last = rows[-1][0]


def _rendered_profile_items(
    conn: duckdb.DuckDBPyConnection,
    codec: Codec,
    run_id: str,
    operations: dict[str, str],
    customers: list[str] | None,
) -> Iterator[Item]:
    sql = f"""
        select seq, row_key, operation, identity, {codec.profile_sql}
        from sync.outbox_profiles
        where run_id = ? and destination = ? and seq > ?
          and (?::varchar[] is null or list_contains(?::varchar[], row_key))
        order by seq limit {CHUNK_ROWS}
    """
    last = 0
    while rows := conn.execute(sql, [run_id, codec.name, last, customers, customers]).fetchall():
        for _, key, operation, identity, obj in rows:
            operations[key] = operation
            yield Item(key, identity, json.loads(obj))
        last = rows[-1][0]


def profile_bodies(
    conn: duckdb.DuckDBPyConnection, codec: Codec, run_id: str, limits: BatchLimits
) -> Iterator[Batch]:
    """The planned profiles of a codec with ``profile_sql`` as batches whose objects DuckDB
    rendered and joined, ``limits.max_count`` to a batch (split further only past
    ``limits.max_bytes``): a million profiles cost Python a few thousand rows, not a million
    dictionaries. Every body is rendered before the first goes out (into a temporary table,
    which DuckDB spills to disk past its memory), so rendering never competes with sending;
    then read a bounded range of batches at a time."""
    assert codec.profile_sql is not None
    conn.execute(
        f"""
        create or replace temp table sync_profile_bodies as
        select (seq - 1) // {limits.max_count} as batch,
            to_json(list(row_key order by seq))::varchar as keys,
            to_json(list(operation order by seq))::varchar as ops,
            list(strlen(body) order by seq) as sizes, string_agg(body, ',' order by seq) as body
        from (
            select row_number() over (order by seq) as seq, row_key, operation,
                {codec.profile_sql} as body
            from sync.outbox_profiles where run_id = ? and destination = ?
        )
        group by batch
        """,
        [run_id, codec.name],
    )
    try:
        (top,) = conn.execute("select count(*) from sync_profile_bodies").fetchone()
        for lo in range(0, top, BODY_CHUNK):
            rows = conn.execute(
                "select keys, ops, body, strlen(body) > ? - ? as split "
                "from sync_profile_bodies where batch >= ? and batch < ? order by batch",
                [limits.max_bytes, limits.overhead, lo, lo + BODY_CHUNK],
            ).fetchall()
            for n, (keys, ops, joined, split) in enumerate(rows, start=lo):
                # Keys and operations come as one JSON array each: DuckDB's lists, turned
                # into Python lists value by value, cost the main thread more than parsing.
                keys, ops = json.loads(keys), json.loads(ops)
                sizes = _sizes(conn, n) if split else []
                yield from split_joined(
                    keys, ops, sizes, joined.encode(), limits.max_bytes, limits.overhead
                )
    finally:
        conn.execute("drop table if exists sync_profile_bodies")


def _sizes(conn: duckdb.DuckDBPyConnection, batch: int) -> list[int]:
    """The byte size of each object of a rendered batch, for the rare batch that must be split."""
    (sizes,) = conn.execute(
        "select sizes from sync_profile_bodies where batch = ?", [batch]
    ).fetchone()
    return sizes


def event_items(
    conn: duckdb.DuckDBPyConnection, codec: Codec, run_id: str, identities: list[str] | None = None
) -> Iterator[Item]:
    """The planned events as items, in the order they occurred (``identities``: only the
    events sent under them)."""
    sql = f"""
        select seq, event_id, identity_kind, identity, event_name, occurred_at, properties
        from sync.outbox_events
        where run_id = ? and destination = ? and seq > ?
          and (?::varchar[] is null or list_contains(?::varchar[], identity))
        order by seq limit {CHUNK_ROWS}
    """
    last = 0
    while True:
        rows = conn.execute(sql, [run_id, codec.name, last, identities, identities]).fetchall()
        if not rows:
            return
        for _, event_id, kind, identity, name, occurred_at, props in rows:
            yield codec.event_item(event_id, kind, identity, name, occurred_at, props)
        last = rows[-1][0]
