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
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from okendo_pipeline.lib.files import replace_durably
from okendo_pipeline.lib.incremental import BUILT_CUSTOMERS_DAYS
from okendo_pipeline.lib.warehouse import table_exists

log = logging.getLogger(__name__)

# What analysts get: every mart, the rejected records, the sync history models and runs.
PUBLISHED_SCHEMAS = ("marts", "sync_history")
PUBLISHED_TABLES = ("raw.rejected_records", "sync.runs")
# The big tables, taken again only for what changed: the customers an incremental build
# recomputed, the (destination, customer) pairs acknowledged since the last publish.
BY_CUSTOMER = frozenset(
    {"marts.customer_profiles", "marts.customer_events", "marts.customer_profile_attributes"}
)
BY_ACKNOWLEDGED = frozenset({"sync_history.sync_history_acknowledged"})
REWRITE_DAYS = 7  # a copied-and-patched file is written whole again after this
COPY_WORKERS = 2  # the machines this runs on have two cores or more


@dataclass(frozen=True)
class Published:
    path: str
    tables: int
    rows: int
    seconds: float
    skipped: bool = False
    # "full"; "changes": the last file, with the changes the build log names; "compared": the
    # last file, with the changes found by comparing it with the warehouse
    mode: str = "full"


@dataclass(frozen=True)
class LastPublish:
    """What a published file says of itself (older files carry only the fingerprint)."""

    fingerprint: str
    warehouse: str | None = None
    built_through: datetime | None = None
    acknowledged_through: datetime | None = None
    written_whole_at: datetime | None = None


@dataclass(frozen=True)
class Changes:
    """The changes since the last publish are in the temp tables ``publish_customers`` and
    ``publish_acknowledged``; with ``compare`` the build log could not tell which customers,
    and the tables are compared with the last file instead."""

    compare: bool = False


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


def last_publish(target: Path) -> LastPublish | None:
    if not target.exists():
        return None
    try:
        with duckdb.connect(str(target), read_only=True) as conn:
            cursor = conn.execute("select * from okendo.published")
            row = cursor.fetchone()
            names = [d[0] for d in cursor.description]
    except duckdb.Error:
        return None
    if row is None:
        return None
    values = dict(zip(names, row, strict=True))
    return LastPublish(
        fingerprint=values["fingerprint"],
        warehouse=values.get("warehouse"),
        built_through=values.get("built_through"),
        acknowledged_through=values.get("acknowledged_through"),
        written_whole_at=values.get("written_whole_at"),
    )


def warehouse_path(conn: duckdb.DuckDBPyConnection) -> str:
    return conn.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchone()[0]


def _scalar(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    try:
        return conn.execute(sql, params or []).fetchone()[0]
    except duckdb.CatalogException:  # the table is not there yet
        return None


def fresh(previous: LastPublish) -> bool:
    """The last file was written whole recently enough to be copied and patched again."""
    written = previous.written_whole_at
    return written is not None and datetime.now(UTC) - written < timedelta(days=REWRITE_DAYS)


def watermarks(conn: duckdb.DuckDBPyConnection) -> dict[str, datetime | None]:
    """How far the file about to be published goes: the last build, the last acknowledgement."""
    return {
        "built": _scalar(conn, "select max(finished_at) from raw.model_builds"),
        "acknowledged": _scalar(conn, "select max(acknowledged_at) from sync.profile_state"),
    }


def changes_since(
    conn: duckdb.DuckDBPyConnection, previous: LastPublish, target: Path
) -> Changes | None:
    """What changed since ``previous`` was published from this warehouse: temp tables
    ``publish_customers`` (from the build log, when every build since was incremental and is
    still logged; else ``compare`` is set and the customers are found by comparing the tables
    with the last file) and ``publish_acknowledged``. None for another warehouse's file: the
    tables are then copied whole."""
    if previous.warehouse != warehouse_path(conn) or Path(f"{target}.wal").exists():
        return None
    conn.execute("create or replace temp table publish_customers (customer_key varchar)")
    logged = _logged_customers(conn, previous.built_through)
    conn.execute(
        "create or replace temp table publish_acknowledged (destination varchar, "
        "customer_key varchar)"
    )
    if table_exists(conn, "sync.profile_state"):
        conn.execute(
            "insert into publish_acknowledged select destination, customer_key "
            "from sync.profile_state where acknowledged_at > coalesce(?, '-infinity'::timestamptz)",
            [previous.acknowledged_through],
        )
    return Changes(compare=not logged)


def _logged_customers(conn: duckdb.DuckDBPyConnection, since: datetime | None) -> bool:
    """Fill ``publish_customers`` from the build log; False when the log cannot tell (a full
    build since ``since``, a build whose customers are no longer kept, ``since`` unknown)."""
    if not table_exists(conn, "raw.model_builds"):
        return since is None
    if since is not None and not _scalar(
        conn, "select count(*) from raw.model_builds where finished_at = ?", [since]
    ):
        return False
    full, expired = conn.execute(
        "select count(*) filter (where full_refresh), "
        "count(*) filter (where finished_at < now() - to_days(?)) "
        "from raw.model_builds where finished_at > coalesce(?, '-infinity'::timestamptz)",
        [BUILT_CUSTOMERS_DAYS, since],
    ).fetchone()
    if full or expired:
        return False
    if table_exists(conn, "raw.built_customers"):
        conn.execute(
            "insert into publish_customers select distinct customer_key from raw.built_customers "
            "where finished_at > coalesce(?, '-infinity'::timestamptz)",
            [since],
        )
    return True


def compare_customers(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    """Add to ``publish_customers`` every customer whose rows in ``table`` differ between the
    warehouse and the copy of the last file: per customer, the row count and the sum of the
    rows' hashes (a few seconds for millions of rows, where copying them costs many more)."""
    digest = "select customer_key, count(*) as n, sum(hash(t)::hugeint) as h from {} t group by 1"
    conn.execute(
        f"""
        insert into publish_customers
        select customer_key::varchar
        from ({digest.format(table)}) new
        full join ({digest.format("okendo_publish." + table)}) old using (customer_key)
        where new.n is distinct from old.n or new.h is distinct from old.h
        """
    )


def _columns(conn: duckdb.DuckDBPyConnection, database: str, table: str) -> list[tuple]:
    schema, name = table.split(".")
    return conn.execute(
        "select column_name, data_type from duckdb_columns() where database_name = ? "
        "and schema_name = ? and table_name = ? order by column_index",
        [database, schema, name],
    ).fetchall()


def _copy(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    conn.execute(f"drop table if exists okendo_publish.{table}")
    conn.execute(f"create table okendo_publish.{table} as select * from {table}")


def _create_schemas(conn: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    for schema in sorted({t.split(".")[0] for t in tables} | {"okendo"}):
        conn.execute(f"create schema if not exists okendo_publish.{schema}")


def _copy_all(conn: duckdb.DuckDBPyConnection, tables: list[str], counts: dict[str, int]) -> int:
    """Every table afresh, on ``COPY_WORKERS`` cursors, biggest first: a table's copy is mostly
    compression, and two tables compress side by side faster than one after the other."""
    _create_schemas(conn, tables)
    queue = sorted(tables, key=lambda t: -counts[t])
    lock = threading.Lock()
    failures: list[BaseException] = []

    def work(cursor: duckdb.DuckDBPyConnection) -> None:
        with cursor:
            while True:
                with lock:
                    if not queue or failures:
                        return
                    table = queue.pop(0)
                try:
                    _copy(cursor, table)
                except BaseException as exc:  # raised below, in the caller's thread
                    with lock:
                        failures.append(exc)
                    return

    workers = [threading.Thread(target=work, args=(conn.cursor(),)) for _ in range(COPY_WORKERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise failures[0]
    return sum(counts.values())  # a run is the only writer: the copies hold what was counted


def _apply_changes(
    conn: duckdb.DuckDBPyConnection, tables: list[str], counts: dict[str, int], *, compare: bool
) -> int:
    """Bring the copy of the last file up to date: the big tables by their changed keys (from
    the build log, or with ``compare`` found by comparing), the rest whole. Returns the rows
    written. A big table whose columns changed, or whose count
    does not match afterwards, is copied whole instead (and said so in the log)."""
    _create_schemas(conn, tables)
    held = {
        f"{s}.{t}"
        for s, t in conn.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = 'okendo_publish'"
        ).fetchall()
    }
    for gone in sorted(held - set(tables) - {"okendo.published"}):
        conn.execute(f"drop table okendo_publish.{gone}")
    here = current_database(conn)
    same = {
        t
        for t in tables
        if t in held and _columns(conn, "okendo_publish", t) == _columns(conn, here, t)
    }
    if compare:  # every customer-keyed table's differences, before any of them changes
        for table in sorted(BY_CUSTOMER & same):
            compare_customers(conn, table)
        conn.execute(
            "create or replace temp table publish_customers as "
            "select distinct customer_key from publish_customers"
        )
    written = 0
    for table in tables:
        keyed = table in BY_CUSTOMER or table in BY_ACKNOWLEDGED
        if not (keyed and table in same):
            _copy(conn, table)
            written += counts[table]
            continue
        if table in BY_CUSTOMER:
            match = "customer_key in (select customer_key from publish_customers)"
        else:
            match = (
                "destination || chr(0) || customer_key in "
                "(select destination || chr(0) || customer_key from publish_acknowledged)"
            )
        conn.execute(f"delete from okendo_publish.{table} where {match}")
        written += conn.execute(
            f"insert into okendo_publish.{table} select * from {table} where {match}"
        ).fetchone()[0]
        now = conn.execute(f"select count(*) from okendo_publish.{table}").fetchone()[0]
        if now != counts[table]:
            log.warning(
                "analytics: %s has %s rows after taking the changes, the warehouse %s; "
                "copying it whole",
                table, now, counts[table],
            )  # fmt: skip
            _copy(conn, table)
            written += counts[table]
    return written


def current_database(conn: duckdb.DuckDBPyConnection) -> str:
    return conn.execute("select current_database()").fetchone()[0]


def publish(conn: duckdb.DuckDBPyConnection, target: Path, *, whole: bool = False) -> Published:
    """Write the published tables from the warehouse ``conn`` into a new file, then rename it
    over ``target``; nothing when the tables are unchanged since the last publish.

    The new file starts as a copy of the last one (``changes_since``): only the changed
    customers' rows of the big tables are replaced, and the small tables whole. Every table is
    copied afresh when there is no file yet, the file is another warehouse's, or it was last
    written whole ``REWRITE_DAYS`` ago (so the rows deleted in a copy do not pile up), or when
    asked (``whole``: after an erasure, whose rows a patched copy would keep in free blocks)."""
    began = time.perf_counter()
    tables = tables_to_publish(conn)
    counts = row_counts(conn, tables)
    digest = fingerprint(conn, counts)
    previous = last_publish(target)
    if previous is not None and digest == previous.fingerprint and not whole:
        return Published(str(target), len(tables), 0, time.perf_counter() - began, skipped=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.new")
    staging.unlink(missing_ok=True)
    patch = previous is not None and fresh(previous) and not whole
    changes = changes_since(conn, previous, target) if previous and patch else None
    if changes is not None:
        shutil.copyfile(target, staging)  # the file analysts may hold open is only read
    marks = watermarks(conn)
    conn.execute(f"attach '{staging}' as okendo_publish")
    # Compressing text is most of a copy's cost: zstd takes about 60% of the time the default
    # methods take on the events' JSON, and the file comes out smaller. Only the analysts'
    # file is written while this is set (the warehouse's writes here are temp tables).
    conn.execute("set force_compression = 'zstd'")
    try:
        if changes is None:
            copied = _copy_all(conn, tables, counts)
        else:
            copied = _apply_changes(conn, tables, counts, compare=changes.compare)
        conn.execute("drop table if exists okendo_publish.okendo.published")
        conn.execute(
            "create table okendo_publish.okendo.published as select now() as published_at, "
            "$fingerprint as fingerprint, $warehouse as warehouse, $built as built_through, "
            "$acknowledged as acknowledged_through, "
            "coalesce($written, now()) as written_whole_at",
            {
                "fingerprint": digest,
                "warehouse": warehouse_path(conn),
                "written": previous.written_whole_at if changes and previous else None,
                **marks,
            },
        )
    finally:
        conn.execute("detach okendo_publish")
        conn.execute("reset force_compression")
    replace_durably(staging, target)  # on disk before the rename makes it the published file
    return Published(
        str(target),
        len(tables),
        copied,
        time.perf_counter() - began,
        mode="full" if changes is None else "compared" if changes.compare else "changes",
    )
