"""The ``sync`` schema: per destination, what it acknowledged, and an account of every row.

* ``sync.destinations``: when each destination was first synced and its event backfill start;
* ``sync.profile_state``: the last acknowledged profile per customer (values and a row hash);
* ``sync.profile_issues``: profiles that failed (retried) or were rejected (not retried until
  their data changes);
* ``sync.event_ledger``: every event a destination was meant to get: pending, sending (intent
  recorded, outcome not yet), sent, failed, rejected, or skipped (older than the backfill start);
* ``sync.outbox_profiles`` / ``sync.outbox_events``: the latest run's plan per destination:
  exactly what it sends, with the values that become acknowledged; a dry run also keeps every
  payload it would have sent in ``sync.outbox_payloads``; ``sync.outbox_merges``: the
  customers whose email-only profile the run merges into their identified one first;
* ``sync.runs``: one row per run with its counts;
* ``sync.row_log``: the journal: one row per row per step (``sending`` before an events batch
  goes out where the destination keeps every copy, then its outcome), appended as the run
  goes; folded into the state and ledger set-based at the end of the run, or by the next run if
  this one died. Kept for ``OKENDO_SYNC_LOG_DAYS`` once folded.
"""

import duckdb

from okendo_pipeline.lib.catalogue import PROFILE_FIELDS

SQL_TYPES = {"string": "varchar", "integer": "bigint", "number": "double", "date": "date"}
PROFILE_COLUMNS = [f.column for f in PROFILE_FIELDS]

DDL = f"""
create schema if not exists sync;
create table if not exists sync.destinations (
    destination varchar not null,
    first_synced_at timestamptz not null,
    events_backfill_start varchar not null,
    events_since timestamp
);
create table if not exists sync.profile_state (
    destination varchar not null,
    customer_key varchar not null,
    identity_kind varchar not null,
    identity varchar not null,
    row_hash ubigint not null,
    {", ".join(f"{f.column} {SQL_TYPES[f.kind]}" for f in PROFILE_FIELDS)},
    profile_attributes json,
    acknowledged_at timestamptz not null,
    run_id varchar not null
);
create table if not exists sync.profile_issues (
    destination varchar not null,
    customer_key varchar not null,
    row_hash ubigint not null,
    status varchar not null,
    attempts integer not null,
    reason varchar,
    updated_at timestamptz not null,
    run_id varchar not null
);
create table if not exists sync.event_ledger (
    destination varchar not null,
    event_id varchar not null,
    status varchar not null,
    attempts integer not null,
    reason varchar,
    updated_at timestamptz not null,
    sent_at timestamptz,
    run_id varchar,
    -- md5_number_lower(event_id): a plan finds its events' rows on this 64-bit key
    event_key ubigint
);
create table if not exists sync.outbox_profiles (
    run_id varchar not null,
    destination varchar not null,
    seq bigint not null,
    row_key varchar not null,
    operation varchar not null,
    changed_fields varchar[] not null,
    identity_kind varchar not null,
    identity varchar not null,
    row_hash ubigint not null,
    {", ".join(f"{f.column} {SQL_TYPES[f.kind]}" for f in PROFILE_FIELDS)},
    profile_attributes json,
    old_attributes json
);
create table if not exists sync.outbox_events (
    run_id varchar not null,
    destination varchar not null,
    seq bigint not null,
    event_id varchar not null,
    prior_status varchar not null,
    event_name varchar not null,
    occurred_at timestamp not null,
    properties json,
    identity_kind varchar not null,
    identity varchar not null
);
-- Customers first sent by email who now have an id: their email-only profile is merged into
-- (or becomes) the identified one before this run sends anything under the id.
create table if not exists sync.outbox_merges (
    run_id varchar not null,
    destination varchar not null,
    row_key varchar not null,
    email varchar not null,
    identity_kind varchar not null,
    identity varchar not null
);
create table if not exists sync.outbox_payloads (
    run_id varchar not null,
    destination varchar not null,
    kind varchar not null,
    row_key varchar not null,
    payload json not null
);
create table if not exists sync.runs (
    run_id varchar not null,
    destination varchar not null,
    dry_run boolean not null,
    status varchar not null,
    folded boolean not null default false,
    started_at timestamptz not null,
    finished_at timestamptz,
    profiles_changed bigint default 0,
    profiles_accepted bigint default 0,
    profiles_rejected bigint default 0,
    profiles_failed bigint default 0,
    fields_sent bigint default 0,
    events_pending bigint default 0,
    events_accepted bigint default 0,
    events_rejected bigint default 0,
    events_failed bigint default 0,
    events_skipped bigint default 0,
    requests bigint default 0,
    possible_duplicates bigint default 0,
    resent_after_interruption bigint default 0,
    diff_seconds double,
    duration_seconds double,
    error varchar
);
-- The guard's verdict (added with the guard: older warehouses gain the columns).
alter table sync.runs add column if not exists held_reason varchar;
alter table sync.runs add column if not exists approved boolean default false;
alter table sync.runs add column if not exists identities_merged bigint default 0;
-- What the plan compared (``lib/sync/scope.py``): the last build it saw, the identity and
-- removal rules it applied, and whether it read every customer or a scope, and why.
alter table sync.runs add column if not exists built_through timestamptz;
alter table sync.runs add column if not exists plan_rules varchar;
alter table sync.runs add column if not exists plan_scope varchar;
create table if not exists sync.row_log (
    run_id varchar not null,
    destination varchar not null,
    kind varchar not null,
    row_key varchar not null,
    operation varchar not null,
    status varchar not null,
    message varchar,
    logged_at timestamptz not null,
    seq bigint not null
);
"""


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(DDL)
    _add_event_keys(conn)


def _add_event_keys(conn: duckdb.DuckDBPyConnection) -> None:
    """``sync.event_ledger.event_key`` on a ledger created before it: added and filled once
    (4.4 s for 11.4 million rows)."""
    found = conn.execute(
        "select count(*) from information_schema.columns where table_schema = 'sync' "
        "and table_name = 'event_ledger' and column_name = 'event_key'"
    ).fetchone()[0]
    if not found:
        conn.execute("alter table sync.event_ledger add column event_key ubigint")
        conn.execute("update sync.event_ledger set event_key = md5_number_lower(event_id)")


def prune_row_log(conn: duckdb.DuckDBPyConnection, keep_days: int) -> int:
    """Drop per-row log entries older than ``keep_days``; returns how many."""
    return conn.execute(
        """
        delete from sync.row_log where logged_at < now() - to_days(?)
          and run_id in (select run_id from sync.runs where folded)
        """,
        [keep_days],
    ).fetchone()[0]


def close_interrupted_runs(conn: duckdb.DuckDBPyConnection, destination: str) -> int:
    """Runs still marked running belong to a process that died: say so."""
    return conn.execute(
        """
        update sync.runs set status = 'interrupted',
            error = coalesce(error, 'the process ended before the run finished')
        where destination = ? and status = 'running'
        """,
        [destination],
    ).fetchone()[0]
