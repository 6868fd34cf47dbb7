"""The journal of a run and its fold into the acknowledged state.

Outcomes are appended to ``sync.row_log`` as results arrive (``Journal``); at the end of a run
one transaction applies them, set-based, to ``sync.profile_state``, ``sync.profile_issues`` and
``sync.event_ledger`` (``fold``). A run that died before folding is folded by the next one before
it plans (``recover``), so what was acknowledged stays acknowledged and whatever has no outcome
is planned and sent again.
"""

import json
import logging
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait

import duckdb

from okendo_pipeline.lib.destinations import Batch, BatchResult
from okendo_pipeline.lib.sync import schema
from okendo_pipeline.lib.sync.plan import COLUMNS

log = logging.getLogger(__name__)

FLUSH_ROWS = 5_000
FLUSH_SECONDS = 2.0


class Journal:
    """Appends per-row entries to ``sync.row_log``, a batch at a time: a batch's keys (and
    operations) travel as one JSON array each and DuckDB unnests them when they are written,
    so journaling a batch costs Python the same whatever its size. Rows whose outcome differs
    from the rest of their batch are listed apart, by position.

    ``flush`` commits and waits. ``flush_soon`` hands the entries to a writer thread with its
    own connection and returns, so sending goes on while DuckDB commits (a commit that
    checkpoints takes a tenth of a second, in which eight threads would otherwise starve).
    A crash loses at most the outcomes not yet written: those rows are sent again, which is
    harmless wherever ``flush_soon`` is used. Use as a context manager: leaving it writes
    everything."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, run_id: str, destination: str) -> None:
        self.conn, self.run_id, self.destination = conn, run_id, destination
        self.batches: list[tuple[str, str, str | None, str | None, str, str | None, int]] = []
        self.exceptions: list[tuple[int, str, str | None]] = []
        self.rows = 0
        self.seq = 0
        self.last_flush = time.monotonic()
        self._writer: ThreadPoolExecutor | None = None
        self._cursor: duckdb.DuckDBPyConnection | None = None
        self._writing: list[Future[None]] = []

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            self.flush()
        except Exception:
            if exc_type is None:
                raise
            log.exception("%s: the journal's last outcomes were not written", self.destination)
        finally:
            if self._writer is not None:
                self._writer.shutdown(wait=True)
            if self._cursor is not None:
                self._cursor.close()

    def add(
        self,
        kind: str,
        batch: Batch,
        operations: str | list[str] | None,
        status: str,
        message: str | None = None,
        exceptions: Mapping[int, tuple[str, str | None]] | None = None,
    ) -> None:
        """Every row of ``batch`` with ``status`` and ``message``, but ``exceptions`` (position:
        status, message). ``operations``: one for every row, one per row, or None for the
        batch's own (rendered in SQL)."""
        if operations is None:
            ops_json, op = batch.operations_json, None
        elif isinstance(operations, str):
            ops_json, op = None, operations
        else:
            ops_json, op = json.dumps(operations), None
        keys = batch.keys_as_json()
        self.batches.append((kind, keys, ops_json, op, status, message, self.seq))
        for position, (row_status, row_message) in (exceptions or {}).items():
            self.exceptions.append((self.seq + position, row_status, row_message))
        self.seq += len(batch)
        self.rows += len(batch)

    def add_result(
        self, kind: str, result: BatchResult, operations: str | list[str] | None
    ) -> None:
        """A batch's outcomes."""
        self.add(kind, result.batch, operations, result.status, result.reason, result.exceptions)

    def due(self) -> bool:
        return self.rows >= FLUSH_ROWS or time.monotonic() - self.last_flush > FLUSH_SECONDS

    def flush_soon(self) -> None:
        """Hand what was added to the writer thread; an earlier write's error is raised here."""
        self.last_flush = time.monotonic()
        self._check(block=False)
        if not self.batches:
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="journal")
            self._cursor = self.conn.cursor()
        batches, exceptions = self.batches, self.exceptions
        self.batches, self.exceptions, self.rows = [], [], 0
        self._writing.append(self._writer.submit(self._insert, self._cursor, batches, exceptions))

    def flush(self) -> None:
        """Commit everything added so far, and wait for it."""
        if self._writer is None:
            self.last_flush = time.monotonic()
            batches, exceptions = self.batches, self.exceptions
            self.batches, self.exceptions, self.rows = [], [], 0
            if batches:
                self._insert(self.conn, batches, exceptions)
            return
        self.flush_soon()
        self._check(block=True)

    def _check(self, *, block: bool) -> None:
        """Raise the first failed write; with ``block``, wait for all of them."""
        if block:
            wait(self._writing)
        done = [f for f in self._writing if f.done()]
        self._writing = [f for f in self._writing if not f.done()]
        for future in done:
            future.result()

    def _insert(
        self, conn: duckdb.DuckDBPyConnection, batches: list[tuple], exceptions: list[tuple]
    ) -> None:
        """One insert for the rows of many batches: DuckDB unnests each batch's keys and
        operations and lays the listed exceptions over them."""
        names = ["kind", "keys", "ops", "op", "status", "message", "seq"]
        params = dict(zip(names, map(list, zip(*batches, strict=True)), strict=True))
        listed = map(list, zip(*exceptions, strict=True)) if exceptions else ([], [], [])
        params.update(zip(["x_seq", "x_status", "x_message"], listed, strict=True))
        conn.execute(
            """
            insert into sync.row_log
            with batches as (
                select unnest($kind::varchar[]) as kind, unnest($keys::varchar[]) as keys,
                    unnest($ops::varchar[]) as ops, unnest($op::varchar[]) as op,
                    unnest($status::varchar[]) as status,
                    unnest($message::varchar[]) as message, unnest($seq::bigint[]) as seq
            ),
            rows as (
                select kind, op, status, message,
                    unnest(from_json(keys, '["varchar"]')) as row_key,
                    unnest(from_json(ops, '["varchar"]')) as row_op,
                    unnest(generate_series(seq, seq + json_array_length(keys)::bigint - 1))
                        as row_seq
                from batches
            ),
            listed as (
                select unnest($x_seq::bigint[]) as row_seq,
                    unnest($x_status::varchar[]) as status,
                    unnest($x_message::varchar[]) as message
            )
            select $run_id, $destination, r.kind, r.row_key, coalesce(r.row_op, r.op),
                coalesce(l.status, r.status),
                case when l.row_seq is null then r.message else l.message end,
                now(), r.row_seq
            from rows r left join listed l on l.row_seq = r.row_seq
            """,
            {"run_id": self.run_id, "destination": self.destination, **params},
        )


def fold(conn: duckdb.DuckDBPyConnection, run_id: str, dest: str, max_attempts: int) -> None:
    """Apply one run's journal to state, issues and ledger, set-based, in one transaction."""
    cols = ", ".join(f"o.{c}" for c in COLUMNS)
    conn.execute("begin")
    try:
        conn.execute(
            """
            create or replace temp table fold_last as
            select kind, row_key, arg_max(status, seq) as status,
                   arg_max_null(message, seq) as message
            from sync.row_log where run_id = ? and destination = ?
            group by kind, row_key
            """,
            [run_id, dest],
        )
        conn.execute(
            """
            delete from sync.profile_state where destination = ? and customer_key in
                (select row_key from fold_last where kind = 'profile' and status = 'accepted')
            """,
            [dest],
        )
        conn.execute(
            f"""
            insert into sync.profile_state
            select o.destination, o.row_key, o.identity_kind, o.identity, o.row_hash, {cols},
                o.profile_attributes, now(), o.run_id
            from sync.outbox_profiles o
            join fold_last f on f.kind = 'profile' and f.row_key = o.row_key
            where o.run_id = ? and o.destination = ? and f.status = 'accepted'
            """,
            [run_id, dest],
        )
        conn.execute(
            """
            create or replace temp table fold_issues as
            select o.row_key as customer_key, o.row_hash, f.status, f.message,
                coalesce(case when i.row_hash = o.row_hash then i.attempts end, 0) + 1
                    as attempts
            from sync.outbox_profiles o
            join fold_last f on f.kind = 'profile' and f.row_key = o.row_key
            left join sync.profile_issues i
                on i.destination = o.destination and i.customer_key = o.row_key
            where o.run_id = ? and o.destination = ? and f.status in ('rejected', 'retry')
            """,
            [run_id, dest],
        )
        conn.execute(
            """
            delete from sync.profile_issues where destination = ? and customer_key in
                (select row_key from fold_last where kind = 'profile')
            """,
            [dest],
        )
        conn.execute(
            """
            insert into sync.profile_issues
            select ?, customer_key, row_hash,
                case when status = 'rejected' or attempts >= ? then 'rejected' else 'failed' end,
                attempts,
                case when status = 'retry' and attempts >= ?
                    then 'gave up after ' || attempts || ' failed runs: ' || message
                    else message end,
                now(), ?
            from fold_issues
            """,
            [dest, max_attempts, max_attempts, run_id],
        )
        conn.execute(
            """
            update sync.event_ledger as l set
                status = case f.status
                    when 'accepted' then 'sent'
                    when 'sending' then 'sending'
                    when 'rejected' then 'rejected'
                    else case when l.attempts + 1 >= ? then 'rejected' else 'failed' end end,
                attempts = l.attempts + case when f.status = 'sending' then 0 else 1 end,
                reason = case
                    when f.status = 'retry' and l.attempts + 1 >= ?
                    then 'gave up after ' || (l.attempts + 1) || ' failed runs: ' || f.message
                    else f.message end,
                updated_at = now(),
                sent_at = case when f.status = 'accepted' then now() else l.sent_at end,
                run_id = ?
            from fold_last f
            where f.kind = 'event' and l.destination = ? and l.event_id = f.row_key
            """,
            [max_attempts, max_attempts, run_id, dest],
        )
        conn.execute(
            "update sync.runs set folded = true where run_id = ? and destination = ?",
            [run_id, dest],
        )
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise


def recover(conn: duckdb.DuckDBPyConnection, dest: str, max_attempts: int) -> int:
    """Fold runs that died before folding (their outbox is still there); returns how many."""
    schema.close_interrupted_runs(conn, dest)
    runs = conn.execute(
        """
        select run_id from sync.runs
        where destination = ? and not folded and not dry_run order by started_at
        """,
        [dest],
    ).fetchall()
    for (run_id,) in runs:
        log.warning("%s: folding the journal of interrupted run %s", dest, run_id)
        fold(conn, run_id, dest, max_attempts)
    return len(runs)
