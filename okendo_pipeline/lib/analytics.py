"""The analytics database: a copy of what analysts query, replaced whole after each run.

DuckDB lets one process write a file, and a read-only session in another process blocks that
writer; so analysts never open the warehouse. They open ``OKENDO_ANALYTICS_PATH``, which the
pipeline writes as a new file beside it and then renames over the old one. A session already
open keeps reading the file it opened (the old one, still whole on disk until it closes); a new
session opens the new one; no one ever sees a half-written file, and nothing an analyst holds
can make a run wait.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

# What analysts get: every mart, the rejected records, the sync history models and runs.
PUBLISHED_SCHEMAS = ("marts", "sync_history")
PUBLISHED_TABLES = ("raw.rejected_records", "sync.runs")


@dataclass(frozen=True)
class Published:
    path: str
    tables: int
    rows: int
    seconds: float
    skipped: bool = False


def tables_to_publish(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """``schema.table`` of what exists now, in a stable order."""
    found = conn.execute(
        "select schema_name || '.' || table_name from duckdb_tables() "
        "where database_name = current_database() and not temporary "
        "and (schema_name in (select unnest($schemas)) or schema_name || '.' || table_name "
        "in (select unnest($tables))) order by 1",
        {"schemas": list(PUBLISHED_SCHEMAS), "tables": list(PUBLISHED_TABLES)},
    ).fetchall()
    views = conn.execute(
        "select schema_name || '.' || view_name from duckdb_views() "
        "where database_name = current_database() and not internal "
        "and schema_name in (select unnest($schemas)) order by 1",
        {"schemas": list(PUBLISHED_SCHEMAS)},
    ).fetchall()
    return sorted({name for (name,) in found + views})


def row_counts(conn: duckdb.DuckDBPyConnection, tables: list[str]) -> dict[str, int]:
    return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}


def fingerprint(conn: duckdb.DuckDBPyConnection, counts: dict[str, int]) -> str:
    """What the published tables hold, cheaply: each one's row count and the last build and
    sync. Equal fingerprints mean there is nothing new to publish."""
    parts = [f"{t}:{n}" for t, n in counts.items()]
    for sql in (
        "select max(finished_at) from raw.model_builds",
        "select max(coalesce(finished_at, started_at)) from sync.runs",
    ):
        try:
            parts.append(str(conn.execute(sql).fetchone()[0]))
        except duckdb.CatalogException:
            parts.append("-")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def last_fingerprint(target: Path) -> str | None:
    if not target.exists():
        return None
    try:
        with duckdb.connect(str(target), read_only=True) as conn:
            row = conn.execute("select fingerprint from okendo.published").fetchone()
    except duckdb.Error:
        return None
    return row[0] if row else None


def publish(conn: duckdb.DuckDBPyConnection, target: Path) -> Published:
    """Copy the published tables from the warehouse ``conn`` into a new file, then rename it
    over ``target``; nothing when the tables are unchanged since the last publish."""
    began = time.perf_counter()
    tables = tables_to_publish(conn)
    counts = row_counts(conn, tables)
    digest = fingerprint(conn, counts)
    if digest == last_fingerprint(target):
        return Published(str(target), len(tables), 0, time.perf_counter() - began, skipped=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.new")
    staging.unlink(missing_ok=True)
    conn.execute(f"attach '{staging}' as okendo_publish")
    try:
        for schema in sorted({t.split(".")[0] for t in tables} | {"okendo"}):
            conn.execute(f"create schema okendo_publish.{schema}")
        for table in tables:
            conn.execute(f"create table okendo_publish.{table} as select * from {table}")
        conn.execute(
            "create table okendo_publish.okendo.published as "
            "select now() as published_at, $fingerprint as fingerprint",
            {"fingerprint": digest},
        )
    finally:
        conn.execute("detach okendo_publish")
    with staging.open("rb") as fh:  # on disk before the rename makes it the published file
        os.fsync(fh.fileno())
    os.replace(staging, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    rows = sum(counts.values())  # a run is the only writer: the copies hold what was counted
    return Published(str(target), len(tables), rows, time.perf_counter() - began)
