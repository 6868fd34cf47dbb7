"""One sync run for one destination, in the two steps a sync job runs: plan, then deliver.

Write order, so a crash at any point loses nothing:

1. **intent**: the plan (outbox) and, for new events, a ``pending`` ledger row, in one
   transaction (``begin_run``); for destinations that keep every copy of an event
   (``Sender.events_need_intent``) also a ``sending`` journal entry per events batch, committed
   before the batch goes out;
2. **send** in batches through the destination's sender;
3. **outcome**: appended to the journal as results arrive (after every batch where events need
   intent, every few thousand rows otherwise: re-sending a profile or an id-keyed event is
   harmless);
4. **fold**: one transaction applies the journal to the acknowledged state and the ledger. A
   run that died is folded by the next before it plans; for events that needed intent, at most
   the one batch in flight is sent again (``resent_after_interruption``).

Everything a run needs to know besides the destination is in one ``SyncSettings``, carried by
the report from the first step to the second.
"""

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import NoReturn

import duckdb

from okendo_pipeline.lib import progress
from okendo_pipeline.lib.destinations import Batch, BatchResult, send_all
from okendo_pipeline.lib.http import AuthError
from okendo_pipeline.lib.sync import schema
from okendo_pipeline.lib.sync.codec import Codec
from okendo_pipeline.lib.sync.dry_run import store_samples
from okendo_pipeline.lib.sync.errors import describe, scrubbed
from okendo_pipeline.lib.sync.journal import Journal, fold, recover
from okendo_pipeline.lib.sync.outbox import event_items, profile_bodies, profile_items
from okendo_pipeline.lib.sync.plan import plan
from okendo_pipeline.lib.sync.report import RowKind, SyncReport
from okendo_pipeline.lib.sync.sender import Sender
from okendo_pipeline.lib.sync.settings import SyncSettings

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_FAILED_BATCHES = 3


def begin_run(
    conn: duckdb.DuckDBPyConnection, codec: Codec, run_id: str, settings: SyncSettings
) -> SyncReport:
    """Recover interrupted runs, record this one, and plan it (the diff). Sends nothing."""
    report = SyncReport(run_id=run_id, destination=codec.name, settings=settings)
    schema.ensure_schema(conn)
    report.recovered_runs = recover(conn, codec.name, settings.max_attempts)
    schema.prune_row_log(conn, settings.log_days)
    conn.execute(
        "insert into sync.runs (run_id, destination, dry_run, status, started_at) "
        "values (?, ?, ?, 'running', now())",
        [run_id, codec.name, settings.dry_run],
    )
    started = time.perf_counter()
    try:
        report.plan = plan(
            conn,
            codec,
            run_id,
            events_cutoff=settings.events_cutoff,
            backfill_start=settings.events_backfill_start,
            dry_run=settings.dry_run,
            max_change_share=None if settings.approved else settings.max_change_share,
            clear_removed=settings.on_removed == "clear",
        )
    except BaseException as exc:
        report.status, report.error = "failed", describe(exc)
        _finish(conn, report)
        _raise_scrubbed(exc)
    report.diff_seconds = time.perf_counter() - started
    log.info("%s: plan %s in %.2fs", codec.name, asdict(report.plan), report.diff_seconds)
    if report.plan.held_reason and not settings.dry_run:
        report.status = "held"
        log.warning("%s: held by the guard: %s", codec.name, report.plan.held_reason)
        _finish(conn, report)
    return report


def deliver(
    conn: duckdb.DuckDBPyConnection, codec: Codec, sender: Sender | None, report: SyncReport
) -> SyncReport:
    """Send the planned rows (or, in a dry run, keep samples of their payloads), journal,
    fold; a plan the guard held sends nothing."""
    if report.status == "held":
        return report
    if sender is None and not report.dry_run:
        raise ValueError(f"{codec.name}: no client to send with (is the API key set?)")
    started = time.perf_counter()
    try:
        if report.dry_run:
            store_samples(conn, codec, report)
            report.status = "dry_run"
        else:
            assert sender is not None
            _send_plan(conn, codec, sender, report)
            fold(conn, report.run_id, codec.name, report.settings.max_attempts)
            report.status = "failed" if report.error else "succeeded"
    except BaseException as exc:
        report.status = "failed"
        report.error = report.error or describe(exc)
        _finish(conn, report, time.perf_counter() - started)
        _raise_scrubbed(exc)
    _finish(conn, report, time.perf_counter() - started)
    return report


def _raise_scrubbed(exc: BaseException) -> NoReturn:
    """Raise ``exc`` on, or in place of a DuckDB error one without the values it quoted (its
    traceback would carry them into the run's log)."""
    safe = scrubbed(exc)
    if safe is exc:
        raise exc
    raise safe from None


def _send_plan(
    conn: duckdb.DuckDBPyConnection, codec: Codec, sender: Sender, report: SyncReport
) -> None:
    """Identity merges first, then profiles (concurrently), then events (one batch at a time);
    an auth failure stops the run with what was journaled so far."""
    # Rows built in Python carry their operation here, by key; batches rendered in SQL carry
    # their own.
    operations: dict[str, str] | None = None
    with Journal(conn, report.run_id, codec.name) as journal:
        try:
            if not _merge_identities(conn, sender, report):
                return
            if codec.profile_sql is not None:
                profiles = profile_bodies(conn, codec, report.run_id, sender.profile_limits)
            else:
                operations = {}
                items = profile_items(conn, codec, report.run_id, operations)
                profiles = sender.profile_batches(items)
            _send(
                "profile",
                profiles,
                sender.send_profile_batch,
                sender.profile_concurrency,
                journal,
                report,
                operations,
                flush_each_batch=False,
            )
            if report.error is None:
                events = sender.event_batches(event_items(conn, codec, report.run_id))
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


def _merge_identities(conn: duckdb.DuckDBPyConnection, sender: Sender, report: SyncReport) -> bool:
    """Merge each planned email-only profile into its identified one; False (and nothing sent)
    when one failed: sending under the id first would split the person in two. A merge done
    twice (the run dies before its profiles are acknowledged) finds no email-only profile."""
    merges = conn.execute(
        "select email, identity from sync.outbox_merges where run_id = ? and destination = ? "
        "order by row_key",
        [report.run_id, report.destination],
    ).fetchall()
    if not merges:
        return True
    failed = [m for m in sender.merge_identities(merges) if m.error]
    report.identities_merged = len(merges) - len(failed)
    if failed:
        report.error = (
            f"{report.destination}: {len(failed)} of {len(merges)} identity merges failed "
            f"({failed[0].error}); nothing was sent, so no one is split across two profiles: "
            "the next run merges and sends again"
        )
        log.error(report.error)
        return False
    log.info("%s: merged %d email-only profiles first", report.destination, len(merges))
    return True


def _send(
    kind: RowKind,
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
    total = report.plan.profiles_planned if kind == "profile" else report.plan.events
    with progress.bar(f"{report.destination}: send {kind}s", total, kind) as sent:
        for batch, result in send_all(batches, send, concurrency=concurrency):
            sent.update(result.rows)
            report.requests += result.requests
            report.possible_duplicates += result.possible_duplicates
            ops: str | list[str] | None
            if batch.operations_json is not None:  # rendered in SQL, with the batch
                ops = None
            elif operations is not None:
                ops = [operations.pop(key, "update") for key in batch.row_keys()]
            else:
                ops = "track"
            journal.add_result(kind, result, ops)
            report.count_outcomes(kind, result)
            if flush_each_batch:
                journal.flush()
            elif journal.due():
                journal.flush_soon()
            consecutive_failures = consecutive_failures + 1 if result.error else 0
            if consecutive_failures >= MAX_CONSECUTIVE_FAILED_BATCHES:
                report.error = (
                    f"{report.destination}: stopped after {consecutive_failures} failed batches "
                    "in a row; the rest stays planned for the next run. Last error: "
                    f"{result.error}"
                )
                log.error(report.error)
                break
    journal.flush()


def _with_intent(batches: Iterator[Batch], journal: Journal) -> Iterator[Batch]:
    """Commit a ``sending`` entry for every event of a batch before it is handed over."""
    for batch in batches:
        journal.add("event", batch, "track", "sending")
        journal.flush()
        yield batch


def _finish(conn: duckdb.DuckDBPyConnection, report: SyncReport, send_seconds: float = 0.0) -> None:
    report.duration_seconds = report.diff_seconds + send_seconds
    p = report.plan
    conn.execute(
        """
        update sync.runs set status = ?, finished_at = now(),
            folded = folded or ?, held_reason = ?, approved = ?,
            profiles_changed = ?, profiles_accepted = ?, profiles_rejected = ?,
            profiles_failed = ?, fields_sent = ?, events_pending = ?, events_accepted = ?,
            events_rejected = ?, events_failed = ?, events_skipped = ?, requests = ?,
            possible_duplicates = ?, resent_after_interruption = ?, diff_seconds = ?,
            duration_seconds = ?, error = ?, identities_merged = ?
        where run_id = ? and destination = ?
        """,
        [
            report.status,
            report.dry_run or report.status == "held",  # nothing journaled to fold
            p.held_reason,
            report.settings.approved,
            p.profiles_planned,
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
            report.identities_merged,
            report.run_id,
            report.destination,
        ],
    )
