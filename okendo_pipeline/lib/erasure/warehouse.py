"""Erasure in the warehouse: every row of an address goes, every mention of it is replaced.

One transaction, in this order:

1. the identities each destination holds the person under are set aside (they are what its
   removal call needs; ``raw.erasure_pending`` keeps them only until the destination answers);
2. the customers linked to the person's records (the referrer of their referral, the other
   owner of a record whose email changed) are marked touched, so the next build recomputes
   them without the person;
3. rows keyed by the address go, in every table: ``customer_key`` (raw history, current state,
   models, sync state, build logs), the person's event ids (ledger, plans), ``row_key`` (plans,
   payloads, the row log); the current state of a resource that has other versions left is
   recomputed from them;
4. every text and JSON column of every table is searched for the address as a whole word: a
   rejected record that holds it goes (it is that person's line), anywhere else the address is
   replaced with ``[erased]`` (another customer's review that quotes it, an error message).

Deleted rows stay in the file's free blocks until DuckDB reuses them, so ``compact`` then
rewrites the file: nothing of the person is left on disk either.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from okendo_pipeline.lib.erasure.addresses import salted_hash, sql_redact, text_pattern
from okendo_pipeline.lib.files import replace_durably
from okendo_pipeline.lib.okendo import loader
from okendo_pipeline.lib.sync.codec import Codec

DDL = """
create schema if not exists raw;
create table if not exists raw.erasure_salt (salt varchar not null);
-- The erasure log: only a salted hash of each address and the dates.
create table if not exists raw.erasures (
    address_hash varchar not null,
    requested_on date not null,
    completed_on date
);
-- What a destination still has to remove, with the identity it was sent under; a row goes when
-- the destination acknowledged the removal.
create table if not exists raw.erasure_pending (
    address_hash varchar not null,
    destination varchar not null,
    identity_kind varchar not null,
    identity varchar not null
);
"""
ERASURE_TABLES = {"raw.erasure_salt", "raw.erasures", "raw.erasure_pending"}
LOAD_ID = "erasure"


@dataclass
class WarehouseErasure:
    hashes: dict[str, str]  # address key -> its salted hash
    known: set[str] = field(default_factory=set)  # keys the warehouse had rows or mentions of
    rows_deleted: dict[str, int] = field(default_factory=dict)
    cells_redacted: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)  # destination -> removals to make


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(DDL)


def salt(conn: duckdb.DuckDBPyConnection) -> str:
    """The warehouse's own salt, made at the first erasure."""
    ensure_schema(conn)
    row = conn.execute("select salt from raw.erasure_salt").fetchone()
    if row:
        return row[0]
    value = secrets.token_hex(16)
    conn.execute("insert into raw.erasure_salt values (?)", [value])
    return value


def _tables(conn: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """Every base table of the warehouse but the erasure log: its columns and their types."""
    rows = conn.execute(
        """
        select c.table_schema || '.' || c.table_name, c.column_name, c.data_type
        from information_schema.columns c join information_schema.tables t
          on c.table_schema = t.table_schema and c.table_name = t.table_name
         and c.table_catalog = t.table_catalog
        where t.table_type = 'BASE TABLE' and t.table_catalog = current_database()
          and c.table_schema not in ('information_schema', 'pg_catalog')
        order by 1, c.ordinal_position
        """
    ).fetchall()
    tables: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        if table not in ERASURE_TABLES:
            tables.setdefault(table, {})[column] = kind
    return tables


def _quoted(table: str) -> str:
    schema, name = table.split(".", 1)
    return f'"{schema}"."{name}"'


def _set_aside_identities(
    conn: duckdb.DuckDBPyConnection, codecs: list[Codec], tables: dict[str, dict[str, str]]
) -> None:
    """``erasure_targets``: per destination, each identity it may hold an erased person under:
    the acknowledged one, those of real (not dry) plans, and, when a send was attempted but
    never acknowledged, the one the destination's settings give today."""
    conn.execute(
        "create or replace temp table erasure_targets (customer_key varchar, destination varchar,"
        " identity_kind varchar, identity varchar)"
    )
    if "sync.profile_state" not in tables:
        return
    conn.execute(
        """
        insert into erasure_targets
        select customer_key, destination, identity_kind, identity from sync.profile_state
        where customer_key in (select customer_key from erased_keys)
        union
        select o.row_key, o.destination, o.identity_kind, o.identity from sync.outbox_profiles o
        join sync.runs r on r.run_id = o.run_id and r.destination = o.destination
        where not r.dry_run and o.row_key in (select customer_key from erased_keys)
        union
        select x.customer_key, o.destination, o.identity_kind, o.identity
        from sync.outbox_events o join erased_events x using (event_id)
        join sync.runs r on r.run_id = o.run_id and r.destination = o.destination
        where not r.dry_run
        """
    )
    if "marts.customer_profiles" not in tables:
        return
    for codec in codecs:
        conn.execute(
            f"""
            insert into erasure_targets
            select customer_key, $destination, {codec.identity_kind_sql}, {codec.identity_sql}
            from marts.customer_profiles p
            where customer_key in (select customer_key from erased_keys)
              and (exists (select 1 from sync.profile_issues i where i.destination = $destination
                           and i.customer_key = p.customer_key)
                or exists (select 1 from sync.event_ledger l join erased_events x using (event_id)
                           where l.destination = $destination and x.customer_key = p.customer_key
                             and l.status not in ('pending', 'skipped')))
            """,
            {"destination": codec.name},
        )


def _mark_linked_customers(conn: duckdb.DuckDBPyConnection) -> None:
    """The loader's rule for what a change touches, applied to the person's resources: their
    other customers are rebuilt by the next build, and the resources' current state is
    recomputed from what is left of them."""
    conn.execute(
        """
        create or replace temp table touched as
        select distinct resource_type, resource_id from raw.envelopes
        where customer_key in (select customer_key from erased_keys)
        """
    )
    loader.record_touched(conn, LOAD_ID)
    conn.execute("insert into raw.pending_current select * from touched")


def _delete_keyed_rows(
    conn: duckdb.DuckDBPyConnection, tables: dict[str, dict[str, str]]
) -> dict[str, int]:
    deleted: dict[str, int] = {}
    for table, columns in tables.items():
        tests = []
        if "customer_key" in columns:
            tests.append("customer_key in (select customer_key from erased_keys)")
        if "event_id" in columns:
            tests.append("event_id in (select event_id from erased_events)")
        if "row_key" in columns:
            tests.append(
                "row_key in (select customer_key from erased_keys "
                "union all select event_id from erased_events)"
            )
        if not tests:
            continue
        n = conn.execute(f"delete from {_quoted(table)} where {' or '.join(tests)}").fetchone()[0]
        if n:
            deleted[table] = n
    return deleted


def _sweep_text(
    conn: duckdb.DuckDBPyConnection, tables: dict[str, dict[str, str]], pattern: str
) -> tuple[dict[str, int], dict[str, int]]:
    """Rows of rejected records that hold an address go; elsewhere the address is replaced."""
    deleted: dict[str, int] = {}
    redacted: dict[str, int] = {}
    params = {"pattern": pattern}
    for table, columns in tables.items():
        texts = [c for c, kind in columns.items() if kind == "VARCHAR" or kind == "JSON"]
        if not texts:
            continue
        if table == "raw.rejected_records":
            test = " or ".join(f"regexp_matches({c}::varchar, $pattern, 'i')" for c in texts)
            n = conn.execute(f"delete from raw.rejected_records where {test}", params)
            if n := n.fetchone()[0]:
                deleted[table] = deleted.get(table, 0) + n
            continue
        for column in texts:
            value = f'"{column}"::varchar'
            new = sql_redact(value)
            if columns[column] == "JSON":
                new = f"({new})::json"
            n = conn.execute(
                f'update {_quoted(table)} set "{column}" = {new} '
                f"where regexp_matches({value}, $pattern, 'i')",
                params,
            ).fetchone()[0]
            if n:
                redacted[f"{table}.{column}"] = n
    return deleted, redacted


def erase_warehouse(
    conn: duckdb.DuckDBPyConnection, keys: list[str], codecs: list[Codec]
) -> WarehouseErasure:
    """Erase ``keys`` (normalised addresses) from every table, in one transaction; log each as
    a salted hash and record what each destination still has to remove."""
    ensure_schema(conn)
    loader.ensure_schema(conn)
    secret = salt(conn)
    report = WarehouseErasure(hashes={k: salted_hash(secret, k) for k in keys})
    pattern = text_pattern(keys)
    conn.execute("begin transaction")
    try:
        tables = _tables(conn)
        conn.execute(
            "create or replace temp table erased_keys as "
            "select unnest($keys::varchar[]) as customer_key, unnest($hashes::varchar[]) "
            "as address_hash",
            {"keys": keys, "hashes": [report.hashes[k] for k in keys]},
        )
        event_sources = [
            f"select event_id, customer_key from {_quoted(t)} "
            "where customer_key in (select customer_key from erased_keys)"
            for t, cols in tables.items()
            if "event_id" in cols and "customer_key" in cols
        ]
        conn.execute(
            "create or replace temp table erased_events as select distinct * from ("
            + (" union all ".join(event_sources) or "select ''::varchar, ''::varchar limit 0")
            + ") as e(event_id, customer_key)"
        )
        _set_aside_identities(conn, codecs, tables)
        report.known |= _keys_with_rows(conn, tables, pattern)
        _mark_linked_customers(conn)
        report.rows_deleted = _delete_keyed_rows(conn, tables)
        loader.recompute_current(conn, LOAD_ID)
        swept, report.cells_redacted = _sweep_text(conn, _tables(conn), pattern)
        for table, n in swept.items():
            report.rows_deleted[table] = report.rows_deleted.get(table, 0) + n
        conn.execute(
            """
            insert into raw.erasure_pending
            select distinct k.address_hash, t.destination, t.identity_kind, t.identity
            from erasure_targets t join erased_keys k using (customer_key)
            where t.identity is not null
              and (k.address_hash, t.destination, t.identity_kind, t.identity) not in (
                select (address_hash, destination, identity_kind, identity)
                from raw.erasure_pending)
            """
        )
        conn.execute(
            "insert into raw.erasures select address_hash, current_date, null from erased_keys "
            "where address_hash not in (select address_hash from raw.erasures)"
        )
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    report.pending = dict(
        conn.execute(
            "select destination, count(*) from raw.erasure_pending "
            "where address_hash in ? group by 1",
            [list(report.hashes.values())],
        ).fetchall()
    )
    return report


def _keys_with_rows(
    conn: duckdb.DuckDBPyConnection, tables: dict[str, dict[str, str]], pattern: str
) -> set[str]:
    """The keys the warehouse knows: rows keyed by them, or rejected records that name them."""
    found: set[str] = set()
    for table, columns in tables.items():
        if "customer_key" in columns:
            found |= {
                r[0]
                for r in conn.execute(
                    f"select distinct customer_key from {_quoted(table)} "
                    "where customer_key in (select customer_key from erased_keys)"
                ).fetchall()
            }
    if "raw.rejected_records" in tables:
        for (key,) in conn.execute("select customer_key from erased_keys").fetchall():
            hit = conn.execute(
                "select count(*) from raw.rejected_records "
                "where regexp_matches(raw, $pattern, 'i')",
                {"pattern": text_pattern([key])},
            ).fetchone()[0]
            if hit:
                found.add(key)
    return found


def loaded_files_of(conn: duckdb.DuckDBPyConnection, keys: list[str]) -> set[str]:
    """The landing files the warehouse loaded the persons' envelopes and rejected lines from."""
    loader.ensure_schema(conn)
    rows = conn.execute(
        "select distinct file from raw.envelopes where customer_key in ? "
        "union select distinct file from raw.rejected_records "
        "where regexp_matches(raw, $2, 'i')",
        [keys, text_pattern(keys)],
    ).fetchall()
    return {r[0] for r in rows}


def record_rewritten_files(
    conn: duckdb.DuckDBPyConnection, files: list[tuple[str, str, int, int, int]]
) -> None:
    """The loader's manifest follows the rewritten landing files (rel, hash, size, mtime, lines),
    so the next load does not take them for changed files and read them again."""
    if not files:
        return
    conn.executemany(
        "update raw.loaded_files set content_hash = ?, size_bytes = ?, mtime_ns = ?, lines = ? "
        "where file = ?",
        [[h, size, mtime, lines, rel] for rel, h, size, mtime, lines in files],
    )


def pending_removals(
    conn: duckdb.DuckDBPyConnection, destination: str
) -> list[tuple[str, str, str]]:
    """(address hash, identity kind, identity) the destination still has to remove."""
    ensure_schema(conn)
    return conn.execute(
        "select address_hash, identity_kind, identity from raw.erasure_pending "
        "where destination = ? order by all",
        [destination],
    ).fetchall()


def removal_done(
    conn: duckdb.DuckDBPyConnection, destination: str, removed: list[tuple[str, str]]
) -> None:
    """The destination acknowledged these (identity kind, identity): nothing of them is kept."""
    if not removed:
        return
    conn.executemany(
        "delete from raw.erasure_pending where destination = ? and identity_kind = ? "
        "and identity = ?",
        [[destination, kind, identity] for kind, identity in removed],
    )


def complete(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Mark erasures with nothing left to remove anywhere complete; the hashes still waiting."""
    ensure_schema(conn)
    conn.execute(
        "update raw.erasures set completed_on = current_date where completed_on is null "
        "and address_hash not in (select address_hash from raw.erasure_pending)"
    )
    return [
        r[0]
        for r in conn.execute(
            "select address_hash from raw.erasures where completed_on is null order by 1"
        ).fetchall()
    ]


def compact(conn: duckdb.DuckDBPyConnection, database: str) -> float:
    """Rewrite the warehouse file so deleted rows leave the disk too; seconds taken.

    The copy is written beside the file and renamed over it while this connection still holds
    the file (no other writer can open it meanwhile); the caller must close ``conn`` at once."""
    began = datetime.now(UTC)
    target = Path(database)
    copy = target.with_name(f".{target.name}.compacting")
    copy.unlink(missing_ok=True)
    Path(f"{copy}.wal").unlink(missing_ok=True)
    conn.execute("checkpoint")
    name = conn.execute("select current_database()").fetchone()[0]
    conn.execute(f"attach '{copy}' as okendo_compacted")
    try:
        conn.execute(f'copy from database "{name}" to okendo_compacted')
    finally:
        conn.execute("detach okendo_compacted")
    replace_durably(copy, target)
    Path(f"{database}.wal").unlink(missing_ok=True)
    return (datetime.now(UTC) - began).total_seconds()
