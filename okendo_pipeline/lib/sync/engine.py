"""One sync run for one destination: recover, plan, send, record, fold.

Write order, so a crash at any point loses nothing:

1. **intent**: the plan (outbox) and, for new events, a ``pending`` ledger row, in one
   transaction; for Braze events (no idempotency) also a ``sending`` journal entry per batch,
   committed before the batch goes out;
2. **send** in batches through the destination client;
3. **outcome**: appended to the journal (``sync.row_log``) as results arrive: after every batch
   for Braze events, every few thousand rows otherwise (re-sending a profile or an id-keyed
   Iterable event is harmless);
4. **fold**: at the end, one transaction applies the journal to the acknowledged state and the
   ledger, set-based. A run that died is folded by the next one before it plans, so what was
   acknowledged stays acknowledged; whatever has no outcome is planned and sent again. For Braze
   events that is at most the one batch that was in flight (``resent_after_interruption``).
"""

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

import duckdb
import pandas as pd

from okendo_pipeline.lib.braze.client import BrazeClient
from okendo_pipeline.lib.destinations import Batch, BatchResult, Item, send_all
from okendo_pipeline.lib.http import AuthError
from okendo_pipeline.lib.iterable.client import IterableClient
from okendo_pipeline.lib.sync import state
from okendo_pipeline.lib.sync.codecs import Codec, attribute_changes
from okendo_pipeline.lib.sync.plan import ATTRIBUTES, COLUMNS, PlanCounts, plan

log = logging.getLogger(__name__)

CHUNK_ROWS = 10_000
FLUSH_ROWS = 5_000
FLUSH_SECONDS = 2.0
MAX_CONSECUTIVE_FAILED_BATCHES = 3
# Outcome -> the SyncReport counter it adds to (profiles_failed, events_accepted, ...).
COUNTER = {"accepted": "accepted", "rejected": "rejected", "retry": "failed"}


class Sender(Protocol):
    """What the engine needs from a destination client."""

    profile_concurrency: int
    events_need_intent: bool

    def profile_batches(self, items: Iterator[Item]) -> Iterator[Batch]: ...
    def send_profile_batch(self, batch: Batch) -> BatchResult: ...
    def event_batches(self, items: Iterator[Item]) -> Iterator[Batch]: ...
    def send_event_batch(self, batch: Batch) -> BatchResult: ...


@dataclass
class IterableSender:
    client: IterableClient
    events_need_intent: bool = False  # events carry id = event_id: a resend is an update

    @property
    def profile_concurrency(self) -> int:
        return self.client.settings.concurrency

    def profile_batches(self, items: Iterator[Item]) -> Iterator[Batch]:
        return self.client.user_batches(items)

    def send_profile_batch(self, batch: Batch) -> BatchResult:
        return self.client.send_user_batch(batch)

    def event_batches(self, items: Iterator[Item]) -> Iterator[Batch]:
        return self.client.event_batches(items)

    def send_event_batch(self, batch: Batch) -> BatchResult:
        return self.client.send_event_batch(batch)


@dataclass
class BrazeSender:
    client: BrazeClient
    events_need_intent: bool = True  # Braze keeps every copy: record intent per batch

    @property
    def profile_concurrency(self) -> int:
        return self.client.settings.concurrency

    def profile_batches(self, items: Iterator[Item]) -> Iterator[Batch]:
        return self.client.batches("attributes", items)

    def send_profile_batch(self, batch: Batch) -> BatchResult:
        return self.client.send_batch("attributes", batch)

    def event_batches(self, items: Iterator[Item]) -> Iterator[Batch]:
        return self.client.batches("events", items)

    def send_event_batch(self, batch: Batch) -> BatchResult:
        return self.client.send_batch("events", batch)


@dataclass
class SyncReport:
    run_id: str
    destination: str
    dry_run: bool
    status: str = "running"
    plan: PlanCounts = field(default_factory=PlanCounts)
    profiles_accepted: int = 0
    profiles_rejected: int = 0
    profiles_failed: int = 0
    events_accepted: int = 0
    events_rejected: int = 0
    events_failed: int = 0
    requests: int = 0
    possible_duplicates: int = 0
    recovered_runs: int = 0
    diff_seconds: float = 0.0
    duration_seconds: float = 0.0
    error: str | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    rejections: dict[str, int] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, Any]:
        flat = {k: v for k, v in asdict(self).items() if k not in ("plan", "samples")}
        flat.update({f"plan_{k}": v for k, v in asdict(self.plan).items()})
        return flat


class Journal:
    """Appends per-row entries to ``sync.row_log``; ``flush`` commits them."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, run_id: str, destination: str) -> None:
        self.conn, self.run_id, self.destination = conn, run_id, destination
        self.rows: list[tuple[str, str, str, str, str | None]] = []
        self.seq = 0
        self.last_flush = time.monotonic()

    def add(self, kind: str, key: str, operation: str, status: str, message: str | None) -> None:
        self.rows.append((kind, key, operation, status, message))

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
    state.close_interrupted_runs(conn, dest)
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


# -- reading the plan back, in chunks --------------------------------------------------------


def profile_items(
    conn: duckdb.DuckDBPyConnection, codec: Codec, run_id: str, operations: dict[str, str]
) -> Iterator[Item]:
    """The planned profiles as items, only their changed fields; read ``CHUNK_ROWS`` at a time
    so memory stays bounded whatever the size of the plan."""
    names = ["seq", "row_key", "operation", "changed_fields", "identity_kind", "identity"]
    names += [*COLUMNS, ATTRIBUTES, "old_attributes"]
    sql = f"""
        select {", ".join(names)} from sync.outbox_profiles
        where run_id = ? and destination = ? and seq > ? order by seq limit {CHUNK_ROWS}
    """
    last = 0
    while True:
        rows = conn.execute(sql, [run_id, codec.name, last]).fetchall()
        if not rows:
            return
        for row in rows:
            rec = dict(zip(names, row, strict=True))
            changed = {f: rec[f] for f in rec["changed_fields"] if f != ATTRIBUTES}
            if ATTRIBUTES in rec["changed_fields"]:
                old = rec["old_attributes"] if rec["operation"] == "update" else None
                changed.update(attribute_changes(rec[ATTRIBUTES], old))
            operations[rec["row_key"]] = rec["operation"]
            yield codec.profile_item(rec["row_key"], rec["identity_kind"], rec["identity"], changed)
        last = rows[-1][0]


def event_items(conn: duckdb.DuckDBPyConnection, codec: Codec, run_id: str) -> Iterator[Item]:
    sql = f"""
        select seq, event_id, identity_kind, identity, event_name, occurred_at, properties
        from sync.outbox_events
        where run_id = ? and destination = ? and seq > ? order by seq limit {CHUNK_ROWS}
    """
    last = 0
    while True:
        rows = conn.execute(sql, [run_id, codec.name, last]).fetchall()
        if not rows:
            return
        for _, event_id, kind, identity, name, occurred_at, props in rows:
            yield codec.event_item(event_id, kind, identity, name, occurred_at, props)
        last = rows[-1][0]


# -- the run -----------------------------------------------------------------------------------


def _store_dry_run(
    conn: duckdb.DuckDBPyConnection, codec: Codec, report: SyncReport, samples: int
) -> None:
    """Keep every payload the run would send (``sync.outbox_payloads``) and a few samples."""
    conn.execute("delete from sync.outbox_payloads where destination = ?", [codec.name])
    ops: dict[str, str] = {}
    for kind, items in (
        ("profile", profile_items(conn, codec, report.run_id, ops)),
        ("event", event_items(conn, codec, report.run_id)),
    ):
        buffer: list[tuple[str, str]] = []

        def flush(buffer: list[tuple[str, str]] = buffer, kind: str = kind) -> None:
            if not buffer:
                return
            frame = pd.DataFrame(buffer, columns=["row_key", "payload"])
            conn.register("payload_frame", frame)
            conn.execute(
                "insert into sync.outbox_payloads "
                "select ?, ?, ?, row_key, payload::json from payload_frame",
                [report.run_id, codec.name, kind],
            )
            conn.unregister("payload_frame")
            buffer.clear()

        taken = 0
        for item in items:
            if taken < samples:
                report.samples.append({"kind": kind, **item.payload})
                taken += 1
            buffer.append((item.key, json.dumps(item.payload, default=str)))
            if len(buffer) >= FLUSH_ROWS:
                flush()
        flush()


def _send(
    kind: str,
    batches: Iterator[Batch],
    send: Callable[[Batch], BatchResult],
    concurrency: int,
    journal: Journal,
    report: SyncReport,
    operations: dict[str, str] | None,
    flush_each_batch: bool,
) -> None:
    """Send, journal each outcome, stop after repeated whole-batch failures (rows stay planned
    for the next run rather than burning attempts while the destination is down)."""
    consecutive_failures = 0
    for _batch, result in send_all(batches, send, concurrency=concurrency):
        report.requests += result.requests
        report.possible_duplicates += result.possible_duplicates
        for outcome in result.outcomes:
            op = operations.pop(outcome.key, "update") if operations is not None else "track"
            journal.add(kind, outcome.key, op, outcome.status, outcome.reason)
            name = f"{kind}s_{COUNTER[outcome.status]}"
            setattr(report, name, getattr(report, name) + 1)
            if outcome.status == "rejected" and outcome.reason:
                report.rejections[outcome.reason] = report.rejections.get(outcome.reason, 0) + 1
        if flush_each_batch or journal.due():
            journal.flush()
        consecutive_failures = consecutive_failures + 1 if result.error else 0
        if consecutive_failures >= MAX_CONSECUTIVE_FAILED_BATCHES:
            report.error = (
                f"{report.destination}: stopped after {consecutive_failures} failed batches in a "
                f"row; the rest stays planned for the next run. Last error: {result.error}"
            )
            log.error(report.error)
            break
    journal.flush()


def begin_run(
    conn: duckdb.DuckDBPyConnection,
    codec: Codec,
    *,
    run_id: str,
    events_cutoff: datetime | None,
    backfill_start: str,
    dry_run: bool,
    max_attempts: int = 10,
    log_days: int = 30,
) -> SyncReport:
    """Recover interrupted runs, record this one, and plan it (the diff). Sends nothing."""
    report = SyncReport(run_id=run_id, destination=codec.name, dry_run=dry_run)
    state.ensure_schema(conn)
    report.recovered_runs = recover(conn, codec.name, max_attempts)
    state.prune_row_log(conn, log_days)
    conn.execute(
        "insert into sync.runs (run_id, destination, dry_run, status, started_at) "
        "values (?, ?, ?, 'running', now())",
        [run_id, codec.name, dry_run],
    )
    started = time.perf_counter()
    try:
        report.plan = plan(
            conn,
            codec,
            run_id,
            events_cutoff=events_cutoff,
            backfill_start=backfill_start,
            dry_run=dry_run,
        )
    except BaseException as exc:
        report.status, report.error = "failed", f"{type(exc).__name__}: {exc}"
        _finish(conn, report)
        raise
    report.diff_seconds = time.perf_counter() - started
    log.info("%s: plan %s in %.2fs", codec.name, asdict(report.plan), report.diff_seconds)
    return report


def deliver(
    conn: duckdb.DuckDBPyConnection,
    codec: Codec,
    sender: Sender | None,
    report: SyncReport,
    *,
    max_attempts: int = 10,
    samples: int = 5,
) -> SyncReport:
    """Send the planned rows (or, in a dry run, store their payloads), journal, fold."""
    if sender is None and not report.dry_run:
        raise ValueError(f"{codec.name}: no client to send with (is the API key set?)")
    started = time.perf_counter()
    run_id, dest = report.run_id, codec.name
    try:
        if report.dry_run:
            _store_dry_run(conn, codec, report, samples)
            report.status = "dry_run"
        else:
            assert sender is not None
            journal = Journal(conn, run_id, dest)
            operations: dict[str, str] = {}
            try:
                _send(
                    "profile",
                    sender.profile_batches(profile_items(conn, codec, run_id, operations)),
                    sender.send_profile_batch,
                    sender.profile_concurrency,
                    journal,
                    report,
                    operations,
                    flush_each_batch=False,
                )
                if report.error is None:
                    events = sender.event_batches(event_items(conn, codec, run_id))
                    if sender.events_need_intent:
                        events = _with_intent(events, journal)
                    _send(
                        "event",
                        events,
                        sender.send_event_batch,
                        1,
                        journal,
                        report,
                        None,
                        flush_each_batch=sender.events_need_intent,
                    )
            except AuthError as exc:
                journal.flush()
                report.error = str(exc)
            fold(conn, run_id, dest, max_attempts)
            report.status = "failed" if report.error else "succeeded"
    except BaseException as exc:
        report.status = "failed"
        report.error = report.error or f"{type(exc).__name__}: {exc}"
        _finish(conn, report, time.perf_counter() - started)
        raise
    _finish(conn, report, time.perf_counter() - started)
    return report


def run_sync(
    conn: duckdb.DuckDBPyConnection,
    codec: Codec,
    sender: Sender | None,
    *,
    run_id: str,
    events_cutoff: datetime | None,
    backfill_start: str,
    dry_run: bool,
    max_attempts: int = 10,
    log_days: int = 30,
    samples: int = 5,
) -> SyncReport:
    """Plan and deliver in one call (what the two ops of a sync job do in turn)."""
    report = begin_run(
        conn,
        codec,
        run_id=run_id,
        events_cutoff=events_cutoff,
        backfill_start=backfill_start,
        dry_run=dry_run,
        max_attempts=max_attempts,
        log_days=log_days,
    )
    return deliver(conn, codec, sender, report, max_attempts=max_attempts, samples=samples)


def _with_intent(batches: Iterator[Batch], journal: Journal) -> Iterator[Batch]:
    """Commit a ``sending`` entry for every event of a batch before it is handed over."""
    for batch in batches:
        for item in batch.items:
            journal.add("event", item.key, "track", "sending", None)
        journal.flush()
        yield batch


def _finish(conn: duckdb.DuckDBPyConnection, report: SyncReport, send_seconds: float = 0.0) -> None:
    report.duration_seconds = report.diff_seconds + send_seconds
    p = report.plan
    conn.execute(
        """
        update sync.runs set status = ?, finished_at = now(),
            folded = folded or ?,
            profiles_changed = ?, profiles_accepted = ?, profiles_rejected = ?,
            profiles_failed = ?, fields_sent = ?, events_pending = ?, events_accepted = ?,
            events_rejected = ?, events_failed = ?, events_skipped = ?, requests = ?,
            possible_duplicates = ?, resent_after_interruption = ?, diff_seconds = ?,
            duration_seconds = ?, error = ?
        where run_id = ? and destination = ?
        """,
        [
            report.status,
            report.dry_run,
            p.profiles_created + p.profiles_updated,
            report.profiles_accepted,
            report.profiles_rejected,
            report.profiles_failed,
            p.fields,
            p.events,
            report.events_accepted,
            report.events_rejected,
            report.events_failed,
            p.events_skipped,
            report.requests,
            report.possible_duplicates,
            p.resent_after_interruption,
            report.diff_seconds,
            report.duration_seconds,
            report.error,
            report.run_id,
            report.destination,
        ],
    )
