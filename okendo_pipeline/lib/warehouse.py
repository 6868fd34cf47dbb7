"""Opening the DuckDB warehouse with the settings every writer uses, and holding it for a run.

DuckDB's own lock lasts one connection, and a run opens several (each step, and dbt's process
in between), so two runs could interleave their steps. A run that writes the warehouse holds
``.<file>.lock`` beside it (an exclusive ``flock``) from its start to its end instead: the next
run can be launched while one works (Dagster's start-up, several seconds, overlaps it) and takes
the warehouse the moment it is released. The kernel releases the lock of a killed process.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

# DuckDB's own default is 80% of RAM; a bound keeps room for Python's batch buffers and for
# analysts' read-only sessions on the same machine. Above it DuckDB spills to disk. dbt's
# connection gets the same bound (its profile reads the var). A load of 1,000,000 customers
# took as long at 2.5 GB as at 8 GB (154 s against 156 s) and peaked at 3.4 GB instead of 8.5.
DEFAULT_MEMORY_LIMIT = "2.5GB"
# Another process holding the write lock (a sync launched from the UI while `okendo-pipeline run`
# works) is waited for rather than failed: runs are short next to this.
LOCK_WAIT_SECONDS = 600.0

log = logging.getLogger(__name__)


def open_when_free(database: str, wait: float = LOCK_WAIT_SECONDS) -> duckdb.DuckDBPyConnection:
    """Open read-write, waiting up to ``wait`` seconds while another process holds the file."""
    deadline = time.monotonic() + wait
    warned = False
    while True:
        try:
            return duckdb.connect(database)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            if not warned:
                log.warning("%s is locked by another process; waiting up to %.0fs", database, wait)
                warned = True
            time.sleep(1.0)


@contextmanager
def connect(
    database: str, *, memory_limit: str = DEFAULT_MEMORY_LIMIT, threads: int | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection; spills to ``<database>.tmp`` instead of failing on memory.

    DuckDB allows one writing process per file, so callers keep connections short and the
    Dagster jobs that write run their steps in one process (see definitions.py).
    """
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    conn = open_when_free(database)
    try:
        conn.execute("set enable_progress_bar = false")
        conn.execute(f"set temp_directory = '{database}.tmp'")
        conn.execute(f"set memory_limit = '{memory_limit}'")
        if threads:
            conn.execute(f"set threads = {int(threads)}")
        # Ingestion never relies on insertion order (line numbers are explicit), so let DuckDB
        # stream without keeping order: less memory on large loads.
        conn.execute("set preserve_insertion_order = false")
        yield conn
    finally:
        conn.close()


# Re-entrant within a process: a job run in process inside another holder (a test, the command
# line) must not wait for itself. Path -> (descriptor, depth).
_held: dict[Path, tuple[int, int]] = {}
_held_guard = threading.Lock()
WAIT_LOG_SECONDS = 300.0


def lock_path(database: str) -> Path:
    path = Path(database).resolve()
    return path.parent / f".{path.name}.lock"


def holder(database: str) -> str | None:
    """Who took the warehouse last (a run id, or ``pid <n>``); it may have let go since."""
    try:
        return lock_path(database).read_text().strip() or None
    except FileNotFoundError:
        return None


@contextmanager
def held(database: str, owner: str, *, waiting: Callable[[str], None] = log.info) -> Iterator[None]:
    """Hold the warehouse exclusively, waiting (without limit: runs end) while another process
    holds it; ``waiting`` hears why, once and then every few minutes. ``owner`` is written in
    the lock file, so sensors can tell the run holding it from runs waiting for it."""
    path = lock_path(database)
    with _held_guard:
        if path in _held:
            fd, depth = _held[path]
            _held[path] = (fd, depth + 1)
            acquired = True
        else:
            acquired = False
    if not acquired:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        said = 0.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - said > WAIT_LOG_SECONDS:
                    waiting(f"waiting for {holder(database) or 'another process'} to finish "
                            "with the warehouse")  # fmt: skip
                    said = time.monotonic()
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, owner.encode(), 0)
        with _held_guard:
            _held[path] = (fd, 1)
    try:
        yield
    finally:
        with _held_guard:
            fd, depth = _held[path]
            if depth > 1:
                _held[path] = (fd, depth - 1)
            else:
                del _held[path]
                os.close(fd)  # closing the descriptor releases the lock


def table_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``schema.table`` exists in the connection's own database (not an attached one)."""
    schema, name = table.split(".")
    return bool(
        conn.execute(
            "select count(*) from duckdb_tables() where database_name = current_database() "
            "and schema_name = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )
