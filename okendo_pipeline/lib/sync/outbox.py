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
    """The planned profiles as items, only their changed fields (``customers``: only theirs).
    A codec that renders profiles in SQL gives the same objects its sends carry."""
    if codec.profile_sql is not None:
        columns = f"row_key, operation, identity, {codec.profile_sql}"
        for _, key, operation, identity, obj in _planned(
            conn, "sync.outbox_profiles", columns, "row_key", run_id, codec.name, customers
        ):
            operations[key] = operation
            yield Item(key, identity, json.loads(obj))
        return
    names = ["row_key", "operation", "changed_fields", "identity_kind", "identity"]
    names += [*COLUMNS, ATTRIBUTES, "old_attributes"]
    for row in _planned(conn, "sync.outbox_profiles", ", ".join(names), "row_key",
                        run_id, codec.name, customers):  # fmt: skip
        rec = dict(zip(names, row[1:], strict=True))
        changed = {f: rec[f] for f in rec["changed_fields"] if f != ATTRIBUTES}
        if ATTRIBUTES in rec["changed_fields"]:
            old = rec["old_attributes"] if rec["operation"] != "create" else None
            changed.update(attribute_changes(rec[ATTRIBUTES], old))
        operations[rec["row_key"]] = rec["operation"]
        yield codec.profile_item(rec["row_key"], rec["identity_kind"], rec["identity"], changed)


def _planned(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    columns: str,
    key: str,
    run_id: str,
    destination: str,
    keys: list[str] | None,
) -> Iterator[tuple]:
    """A run's planned rows of ``table``: ``seq`` and then ``columns``, in ``seq`` order and
    ``CHUNK_ROWS`` at a time, so memory stays bounded whatever the size of the plan (``keys``:
    only the rows whose ``key`` column is one of them)."""
    sql = f"""
        select seq, {columns} from {table}
        where run_id = $run_id and destination = $destination and seq > $last
          and ($keys::varchar[] is null or list_contains($keys::varchar[], {key}))
        order by seq limit {CHUNK_ROWS}
    """
    params = {"run_id": run_id, "destination": destination, "keys": keys, "last": 0}
    while rows := conn.execute(sql, params).fetchall():
        yield from rows
        params["last"] = rows[-1][0]


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
                "select keys, ops, len(sizes), body, strlen(body) > ? - ? as split "
                "from sync_profile_bodies where batch >= ? and batch < ? order by batch",
                [limits.max_bytes, limits.overhead, lo, lo + BODY_CHUNK],
            ).fetchall()
            for n, (keys, ops, count, joined, split) in enumerate(rows, start=lo):
                if not split:
                    # Keys and operations stay one JSON text each: the journal unnests them
                    # in SQL, so Python parses them only for a batch with failures.
                    yield Batch(
                        joined=joined.encode(), keys_json=keys, operations_json=ops, count=count
                    )
                    continue
                yield from split_joined(
                    json.loads(keys),
                    json.loads(ops),
                    _sizes(conn, n),
                    joined.encode(),
                    limits.max_bytes,
                    limits.overhead,
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
    columns = "event_id, identity_kind, identity, event_name, occurred_at, properties"
    for _, event_id, kind, identity, name, occurred_at, props in _planned(
        conn, "sync.outbox_events", columns, "identity", run_id, codec.name, identities
    ):
        yield codec.event_item(event_id, kind, identity, name, occurred_at, props)
