"""A dry run's output: every payload it would send, in ``sync.outbox_payloads``, and samples."""

import json

import duckdb
import pandas as pd

from okendo_pipeline.lib.sync.codec import Codec
from okendo_pipeline.lib.sync.outbox import event_items, profile_items
from okendo_pipeline.lib.sync.report import SyncReport

FLUSH_ROWS = 5_000


def store_payloads(conn: duckdb.DuckDBPyConnection, codec: Codec, report: SyncReport) -> None:
    """Replace the destination's stored payloads with this run's; keep a few in the report."""
    conn.execute("delete from sync.outbox_payloads where destination = ?", [codec.name])
    ops: dict[str, str] = {}
    for kind, items in (
        ("profile", profile_items(conn, codec, report.run_id, ops)),
        ("event", event_items(conn, codec, report.run_id)),
    ):
        buffer: list[tuple[str, str]] = []
        taken = 0
        for item in items:
            if taken < report.settings.samples:
                report.samples.append({"kind": kind, **item.payload})
                taken += 1
            buffer.append((item.key, json.dumps(item.payload, default=str)))
            if len(buffer) >= FLUSH_ROWS:
                _insert(conn, report, codec.name, kind, buffer)
        _insert(conn, report, codec.name, kind, buffer)


def _insert(
    conn: duckdb.DuckDBPyConnection,
    report: SyncReport,
    destination: str,
    kind: str,
    buffer: list[tuple[str, str]],
) -> None:
    if not buffer:
        return
    frame = pd.DataFrame(buffer, columns=["row_key", "payload"])
    conn.register("payload_frame", frame)
    try:
        conn.execute(
            "insert into sync.outbox_payloads "
            "select ?, ?, ?, row_key, payload::json from payload_frame",
            [report.run_id, destination, kind],
        )
    finally:
        conn.unregister("payload_frame")
    buffer.clear()
