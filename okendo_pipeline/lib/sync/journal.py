"""The journal of a run and its fold into the acknowledged state.

Outcomes are appended to ``sync.row_log`` as results arrive (``Journal``); at the end of a run
one transaction applies them, set-based, to ``sync.profile_state``, ``sync.profile_issues`` and
``sync.event_ledger`` (``fold``). A run that died before folding is folded by the next one before
it plans (``recover``), so what was acknowledged stays acknowledged and whatever has no outcome
is planned and sent again.
"""

import logging
import time

import duckdb
import pandas as pd

from okendo_pipeline.lib.destinations import ItemOutcome
from okendo_pipeline.lib.sync import schema
from okendo_pipeline.lib.sync.plan import COLUMNS

log = logging.getLogger(__name__)

FLUSH_ROWS = 5_000
FLUSH_SECONDS = 2.0


class Journal:
    """Appends per-row entries to ``sync.row_log``; ``flush`` commits them."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, run_id: str, destination: str) -> None:
        self.conn, self.run_id, self.destination = conn, run_id, destination
        self.rows: list[tuple[str, str, str, str, str | None]] = []
        self.seq = 0
        self.last_flush = time.monotonic()

    def add(self, kind: str, key: str, operation: str, status: str, message: str | None) -> None:
        self.rows.append((kind, key, operation, status, message))

    def add_outcomes(self, kind: str, outcomes: list[ItemOutcome], operations: list[str]) -> None:
        """A batch's outcomes, ``operations`` one per outcome, in order."""
        self.rows.extend(
            (kind, o.key, op, o.status, o.reason)
            for o, op in zip(outcomes, operations, strict=True)
        )

    def due(self) -> bool:
        return len(self.rows) >= FLUSH_ROWS or time.monotonic() - self.last_flush > FLUSH_SECONDS

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.rows:
            return
        frame = pd.DataFrame(
            self.rows, columns=["kind", "row_key", "operation", "status", "message"]
        )
        frame["seq"] = range(self.seq, self.seq + len(frame))
        self.seq += len(frame)
        self.rows = []
        self.conn.register("journal_frame", frame)
        try:
            self.conn.execute(
                """
                insert into sync.row_log
                select ?, ?, kind, row_key, operation, status, message, now(), seq
                from journal_frame
                """,
                [self.run_id, self.destination],
            )
        finally:
            self.conn.unregister("journal_frame")


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
