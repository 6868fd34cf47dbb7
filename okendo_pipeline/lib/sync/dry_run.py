"""A dry run's output: its plan (``sync.outbox_*``, exactly what it would send), a few
payloads as samples in ``sync.outbox_payloads``, and any payload rendered on demand.

Storing every payload made a first-sync dry run at 1,000,000 customers take minutes per
destination and gigabytes of file: the plan already holds every row and changed value, and the
payload builders are pure, so ``payloads`` renders the same bytes from it whenever asked
(``okendo-pipeline payloads``).
"""

import json
from collections.abc import Iterator
from itertools import islice
from typing import Any

import duckdb

from okendo_pipeline.lib.sync.codec import Codec
from okendo_pipeline.lib.sync.outbox import event_items, profile_items
from okendo_pipeline.lib.sync.report import SyncReport


def store_samples(conn: duckdb.DuckDBPyConnection, codec: Codec, report: SyncReport) -> None:
    """Replace the destination's stored samples with this run's first payloads of each kind."""
    conn.execute("delete from sync.outbox_payloads where destination = ?", [codec.name])
    ops: dict[str, str] = {}
    rows = []
    for kind, items in (
        ("profile", profile_items(conn, codec, report.run_id, ops)),
        ("event", event_items(conn, codec, report.run_id)),
    ):
        for item in islice(items, report.settings.samples):
            report.samples.append({"kind": kind, **item.payload})
            payload = json.dumps(item.payload, default=str)
            rows.append([report.run_id, codec.name, kind, item.key, payload])
    if rows:
        conn.executemany("insert into sync.outbox_payloads values (?, ?, ?, ?, ?::json)", rows)


def latest_plan(conn: duckdb.DuckDBPyConnection, destination: str) -> str | None:
    """The run whose plan the outbox holds for ``destination`` (each plan replaces the last)."""
    row = conn.execute(
        "select run_id from sync.outbox_profiles where destination = ? union "
        "select run_id from sync.outbox_events where destination = ? limit 1",
        [destination, destination],
    ).fetchone()
    return row[0] if row else None


def payloads(
    conn: duckdb.DuckDBPyConnection, codec: Codec, customers: list[str] | None, limit: int | None
) -> Iterator[dict[str, Any]]:
    """The payloads the destination's current plan sends (for ``customers`` only, when given),
    profiles then events, rendered as the run sends them."""
    run_id = latest_plan(conn, codec.name)
    if run_id is None:
        return
    identities = None
    if customers is not None:
        identities = [r[0] for r in conn.execute(
            "select identity from sync.outbox_profiles where run_id = ? and destination = ? "
            "and list_contains(?, row_key) union select identity from sync.profile_state "
            "where destination = ? and list_contains(?, customer_key)",
            [run_id, codec.name, customers, codec.name, customers],
        ).fetchall()]  # fmt: skip
    ops: dict[str, str] = {}
    rendered = (
        {"kind": kind, "row_key": item.key, "payload": item.payload}
        for kind, items in (
            ("profile", profile_items(conn, codec, run_id, ops, customers)),
            ("event", event_items(conn, codec, run_id, identities)),
        )
        for item in items
    )
    yield from islice(rendered, limit)
