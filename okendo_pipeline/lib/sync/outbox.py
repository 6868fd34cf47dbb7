"""Reading a run's plan back as items to send, a bounded chunk at a time."""

from collections.abc import Iterator

import duckdb

from okendo_pipeline.lib.destinations import Item
from okendo_pipeline.lib.sync.codec import Codec, attribute_changes
from okendo_pipeline.lib.sync.plan import ATTRIBUTES, COLUMNS

CHUNK_ROWS = 10_000


def profile_items(
    conn: duckdb.DuckDBPyConnection,
    codec: Codec,
    run_id: str,
    operations: dict[str, str],
    customers: list[str] | None = None,
) -> Iterator[Item]:
    """The planned profiles as items, only their changed fields; read ``CHUNK_ROWS`` at a time
    so memory stays bounded whatever the size of the plan (``customers``: only theirs)."""
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
