"""Opening the DuckDB warehouse with the settings every writer uses."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

# DuckDB's own default is 80% of RAM; a bound keeps room for Python's batch buffers and for
# analysts' read-only sessions on the same machine. Above it DuckDB spills to disk.
DEFAULT_MEMORY_LIMIT = "8GB"
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
