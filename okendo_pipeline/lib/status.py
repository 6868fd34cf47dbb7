"""The text ``okendo-pipeline status`` prints: what was loaded, what was rejected and why."""

from __future__ import annotations

import duckdb

from okendo_pipeline.lib.sync.plan import changed_field_counts


def render_status(database: str) -> str:
    """Read-only: safe to run while the pipeline is idle; never writes the warehouse."""
    conn = duckdb.connect(database, read_only=True)
    try:
        has_raw = conn.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'raw' and table_name = 'loads'"
        ).fetchone()[0]
        if not has_raw:
            return f"{database}: nothing loaded yet"
        lines = [f"warehouse {database}"]
        last = conn.execute(
            "select finished_at, files_loaded, files_skipped, envelopes_new, rejected "
            "from raw.loads order by finished_at desc limit 1"
        ).fetchone()
        totals = conn.execute(
            "select (select count(*) from raw.loaded_files), "
            "(select count(*) from raw.envelopes), "
            "(select count(*) from raw.current_resources), "
            "(select count(*) from raw.rejected_records)"
        ).fetchone()
        lines.append(
            f"landing: {totals[0]:,} files loaded, {totals[1]:,} envelopes, "
            f"{totals[2]:,} current resources, {totals[3]:,} rejected lines"
        )
        lines.append(
            f"last load {last[0]:%Y-%m-%d %H:%M:%S %Z}: {last[1]} new files, {last[2]} unchanged, "
            f"{last[3]:,} new envelopes, {last[4]:,} rejected"
        )
        reasons = conn.execute(
            """
            select resource_type, split_part(reason, ';', 1) as reason, count(*) as n
            from raw.rejected_records group by all order by n desc, resource_type limit 5
            """
        ).fetchall()
        if reasons:
            lines.append("top rejection reasons:")
            lines += [f"  {n:>8,}  {rt}: {reason}" for rt, reason, n in reasons]
        lines += _destinations(conn)
        return "\n".join(lines)
    finally:
        conn.close()


def _ledger_lines(
    profiles: int, acked: int, new: int, issues: dict, ledger: dict, pending_events: int
) -> list[str]:
    return [
        f"  profiles: {acked:,} acknowledged of {profiles:,} in the mart; {new:,} customers "
        f"never sent; {issues.get('failed', 0):,} failed (retried next run), "
        f"{issues.get('rejected', 0):,} rejected",
        f"  events: {ledger.get('sent', 0):,} sent, {pending_events:,} pending, "
        f"{ledger.get('failed', 0):,} failed (retried next run), "
        f"{ledger.get('rejected', 0):,} rejected, {ledger.get('skipped', 0):,} skipped "
        "(older than the backfill start)",
    ]


def _has_sync(conn: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        conn.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'sync' and table_name = 'runs'"
        ).fetchone()[0]
    )


def _destinations(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Per destination: profiles and events in sync, pending, failed (with reasons), last run."""
    if not _has_sync(conn):
        return ["destinations: never synced"]
    lines: list[str] = []
    has_marts = conn.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' "
        "and table_name in ('customer_profiles', 'customer_events')"
    ).fetchone()[0]
    profiles = (
        conn.execute("select count(*) from marts.customer_profiles").fetchone()[0]
        if has_marts
        else 0
    )
    destinations = [
        r[0]
        for r in conn.execute(
            "select distinct destination from sync.runs order by destination"
        ).fetchall()
    ]
    for dest in destinations:
        acked = conn.execute(
            "select count(*) from sync.profile_state where destination = ?", [dest]
        ).fetchone()[0]
        issues = dict(
            conn.execute(
                "select status, count(*) from sync.profile_issues where destination = ? "
                "group by status",
                [dest],
            ).fetchall()
        )
        ledger = dict(
            conn.execute(
                "select status, count(*) from sync.event_ledger where destination = ? "
                "group by status",
                [dest],
            ).fetchall()
        )
        unseen = 0
        if has_marts:
            unseen = conn.execute(
                "select count(*) from marts.customer_events e where not exists (select 1 from "
                "sync.event_ledger l where l.destination = ? and l.event_id = e.event_id)",
                [dest],
            ).fetchone()[0]
        last = conn.execute(
            """
            select status, started_at, dry_run, profiles_changed, profiles_accepted,
                   events_pending, events_accepted, requests, error
            from sync.runs where destination = ? order by started_at desc limit 1
            """,
            [dest],
        ).fetchone()
        pending_events = ledger.get("pending", 0) + ledger.get("sending", 0) + unseen
        lines.append(f"{dest}:")
        synced = conn.execute(
            "select count(*) from sync.destinations where destination = ?", [dest]
        ).fetchone()[0]
        if not synced:
            lines.append("  not synced yet (dry runs only): nothing acknowledged")
        else:
            new = (
                conn.execute(
                    "select count(*) from marts.customer_profiles p where not exists (select 1 "
                    "from sync.profile_state s where s.destination = ? "
                    "and s.customer_key = p.customer_key)",
                    [dest],
                ).fetchone()[0]
                if has_marts
                else 0
            )
            lines += _ledger_lines(profiles, acked, new, issues, ledger, pending_events)
        reasons = conn.execute(
            """
            select reason, count(*) as n from (
                select reason from sync.profile_issues where destination = $1
                union all
                select reason from sync.event_ledger
                where destination = $1 and status in ('failed', 'rejected')
            ) group by reason order by n desc limit 3
            """,
            [dest],
        ).fetchall()
        lines += [f"    {n:>8,}  {reason}" for reason, n in reasons]
        status, started, dry, changed, accepted, events, ev_ok, requests, error = last
        kind = "dry run" if dry else "run"
        lines.append(
            f"  last {kind} {started:%Y-%m-%d %H:%M:%S %Z}: {status}; {changed:,} profiles "
            f"changed, {accepted:,} accepted; {events:,} events planned, {ev_ok:,} accepted; "
            f"{requests:,} requests" + (f"; error: {error}" if error else "")
        )
        lines += _held_lines(conn, dest)
    return lines


def _held_lines(conn: duckdb.DuckDBPyConnection, dest: str) -> list[str]:
    """The held plan, when the destination's latest real sync was held: why, and its fields."""
    held = conn.execute(
        """
        select run_id, started_at, held_reason, profiles_changed, events_pending
        from sync.runs where destination = ? and not dry_run
        qualify row_number() over (order by started_at desc) = 1 and status = 'held'
        """,
        [dest],
    ).fetchone()
    if held is None:
        return []
    run_id, started, reason, changed, events = held
    lines = [
        f"  HELD by the guard since {started:%Y-%m-%d %H:%M:%S %Z}: {reason}",
        f"    the held plan: {changed:,} profiles, {events:,} events (run {run_id}); "
        f"send it with `okendo-pipeline run --approve {dest}`",
        "    fields it changes most:",
    ]
    fields = changed_field_counts(conn, run_id, dest)[:5]
    return lines + [f"    {n:>10,}  {field}" for field, n in fields]


def sync_status(database: str, run_id: str, destination: str) -> str | None:
    """The recorded status of one sync run (``held``, ``succeeded``...), None if unrecorded."""
    with duckdb.connect(database, read_only=True) as conn:
        if not _has_sync(conn):
            return None
        row = conn.execute(
            "select status from sync.runs where run_id = ? and destination = ?",
            [run_id, destination],
        ).fetchone()
    return row[0] if row else None


def render_sync_run(database: str, run_id: str, destination: str) -> str:
    """One line for ``okendo-pipeline run``: what a sync run planned and what happened."""
    conn = duckdb.connect(database, read_only=True)
    try:
        if not _has_sync(conn):
            return f"{destination}: no sync recorded"
        row = conn.execute(
            """
            select status, dry_run, profiles_changed, fields_sent, profiles_accepted,
                   profiles_rejected, profiles_failed, events_pending, events_accepted,
                   events_rejected, events_failed, events_skipped, requests,
                   possible_duplicates, resent_after_interruption, diff_seconds,
                   duration_seconds, error, held_reason, identities_merged
            from sync.runs where run_id = ? and destination = ?
            """,
            [run_id, destination],
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        return f"{destination}: the sync run {run_id} recorded nothing (see the Dagster logs)"
    (status, dry, changed, fields, p_ok, p_rej, p_fail, events, e_ok, e_rej, e_fail, skipped,
     requests, dupes, resent, diff_s, total_s, error, held, merged) = row  # fmt: skip
    if dry:
        return (
            f"{destination} (dry run): would send {changed:,} profiles ({fields:,} fields) and "
            f"{events:,} events ({skipped:,} older than the backfill start skipped); "
            f"every payload: okendo-pipeline payloads --destination {destination}; "
            f"diff {diff_s:.2f}s"
        ) + (f"\n  the guard would hold it: {held}" if held else "")
    if status == "held":
        return (
            f"{destination}: HELD by the guard, nothing sent: {held}. The plan ({changed:,} "
            f"profiles, {fields:,} fields, {events:,} events) is kept; `okendo-pipeline status` "
            f"shows it, `okendo-pipeline run --approve {destination}` sends it"
        )
    text = (
        f"{destination}: {status}; profiles {changed:,} changed ({fields:,} fields): "
        f"{p_ok:,} accepted, {p_rej:,} rejected, {p_fail:,} failed; events {events:,}: "
        f"{e_ok:,} accepted, {e_rej:,} rejected, {e_fail:,} failed; {requests:,} requests; "
        f"diff {diff_s:.2f}s, total {total_s:.1f}s"
    ) + (f"; {merged:,} email-only profiles merged first" if merged else "")
    if dupes or resent:
        text += f"; possible duplicate events {dupes:,}, resent after an interruption {resent:,}"
    return text + (f"\n  error: {error}" if error else "")
