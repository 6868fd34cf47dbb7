"""Load a landing folder of envelope files into DuckDB (specification, "Landing").

Set-based: Python finds files, splits their bytes into lines and runs the quick check on each
(msgspec, in C: ``contract/quick.py``); DuckDB reads the columns of the lines the quick check
accepted, validates the others (SQL compiled from the pydantic models, which names every
failing rule), dedupes and derives the current state. Files
go in batches of bounded size, each batch in one transaction together with its manifest rows, so
a crash leaves every file either fully loaded and recorded or not loaded at all.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import os
import uuid
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from okendo_pipeline.lib import progress
from okendo_pipeline.lib.okendo.contract import quick, rules, validation
from okendo_pipeline.lib.okendo.contract.rules import sql_str

log = logging.getLogger(__name__)

LANDING_SUFFIXES = (".jsonl", ".jsonl.gz")
DEFAULT_BATCH_BYTES = 256 * 1024 * 1024
NOT_UTF8 = "line is not valid UTF-8"

# The columns of the history (`raw.envelopes`) and of the current state, with their storage.
ENVELOPE_COLUMNS = """
    resource_type varchar not null,
    resource_id varchar not null using compression uncompressed,
    sequence_number hugeint not null,
    topic varchar not null,
    version varchar,
    -- lower(trim(email)) of the keying email; null for tiers. Both text keys are searched by
    -- every scoped read and uncompressed: DuckDB's default (dictionary and FSST) took 2.0 and
    -- 1.6 s to write 8.9 million of them against 0.6 s, and a search of them twice as long.
    customer_key varchar using compression uncompressed,
    -- zstd writes 9.9 million payloads in 13.6 s against 19.6 s and keeps them in 1.2 GB
    -- against 2.2 GB (DuckDB's default); a full build reads them about 1.5% slower.
    resource json using compression zstd,
    file varchar not null,
    line bigint not null,
    load_id varchar not null,
    loaded_at timestamptz not null
"""

SCHEMA_SQL = f"""
create schema if not exists raw;
create table if not exists raw.loaded_files (
    file varchar not null,          -- path below the landing folder: <resource_type>/<name>
    content_hash varchar not null,  -- sha256 of the file's bytes
    size_bytes bigint not null,
    mtime_ns bigint not null,
    lines bigint not null,
    envelopes_new bigint not null,
    envelopes_duplicate bigint not null,
    rejected bigint not null,
    load_id varchar not null,
    loaded_at timestamptz not null
);
create table if not exists raw.envelopes ({ENVELOPE_COLUMNS});
-- The latest version of each key, deletes applied.
create table if not exists raw.current_resources ({ENVELOPE_COLUMNS});
-- Resources whose current state must be recomputed; written with each batch, emptied once the
-- current state is refreshed, so a crash in between is repaired by the next load.
create table if not exists raw.pending_current (
    resource_type varchar not null,
    resource_id varchar not null
);
-- Customers whose profile or events a load may have changed, for the incremental build: the
-- keys of every version of each resource the load touched (a changed email moves a resource
-- between two customers), the referrer of a touched referral, the recipients of a touched
-- referrer's referrals, and every loyalty member when a VIP tier changed. The build removes
-- the rows it has taken into account.
create table if not exists raw.touched_customers (
    customer_key varchar not null,
    load_id varchar not null
);
-- The resource types of the records each load touched (those whose current state it changed):
-- an incremental build leaves out the intermediate models no staging model of these types
-- feeds. A load without rows here (customers marked by hand, a first load) touched any type.
create table if not exists raw.touched_types (
    resource_type varchar not null,
    load_id varchar not null
);
create table if not exists raw.rejected_records (
    resource_type varchar not null, -- the folder the line was found in
    file varchar not null,
    line bigint not null,
    reason varchar not null,
    raw varchar,
    load_id varchar not null,
    loaded_at timestamptz not null
);
create table if not exists raw.loads (
    load_id varchar not null,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    landing_dir varchar not null,
    files_seen bigint not null,
    files_loaded bigint not null,
    files_skipped bigint not null,
    lines bigint not null,
    envelopes_new bigint not null,
    envelopes_duplicate bigint not null,
    rejected bigint not null,
    current_resources bigint not null
);
"""


@dataclass(frozen=True)
class LandingFile:
    """One file found directly inside ``<landing>/<folder>/``. The location is kept as text
    (``location``) and becomes a ``Path`` only for files that are read: building a ``Path`` was
    most of the cost of listing a folder of 100,000 loaded files."""

    location: str
    rel: str
    folder: str
    size: int
    mtime_ns: int

    @property
    def path(self) -> Path:
        return Path(self.location)


@dataclass
class LoadReport:
    """What one load did; the ingestion asset reports it as run metadata."""

    load_id: str
    files_seen: int = 0
    files_loaded: int = 0
    files_skipped: int = 0
    files_changed: list[str] = field(default_factory=list)
    lines: int = 0
    envelopes_new: int = 0
    envelopes_duplicate: int = 0
    rejected: int = 0
    current_resources: int = 0
    rejected_by_type: dict[str, int] = field(default_factory=dict)
    new_by_type: dict[str, int] = field(default_factory=dict)


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(SCHEMA_SQL)


def discover(landing: Path) -> list[LandingFile]:
    """Envelope files directly inside each ``<landing>/<folder>/``, in a stable order.

    Files with other endings (``.tmp`` while a writer is still at work, notes) and hidden files
    are not envelope files and are left alone. ``os.scandir`` with names sorted as strings and one
    ``stat`` per file: a day of 5-second webhook files is over 100,000 files, and every load lists
    them all (``pathlib`` sorting and a second ``stat`` cost ten times as much).
    """
    if not landing.is_dir():
        raise FileNotFoundError(f"landing folder {landing} does not exist")
    found = []
    with os.scandir(landing) as top:
        folders = sorted((e for e in top if e.is_dir() and not e.name.startswith(".")), key=_name)
    for folder in folders:
        with os.scandir(folder.path) as inside:
            entries = sorted(
                (
                    e
                    for e in inside
                    if not e.name.startswith(".") and e.name.endswith(LANDING_SUFFIXES)
                ),
                key=_name,
            )
        for entry in entries:
            if not entry.is_file():
                continue
            stat = entry.stat()
            found.append(
                LandingFile(
                    entry.path,
                    f"{folder.name}/{entry.name}",
                    folder.name,
                    stat.st_size,
                    stat.st_mtime_ns,
                )
            )
    return found


def _name(entry: os.DirEntry) -> str:
    return entry.name


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def unpacked(path: Path, raw: bytes) -> bytes:
    """A landing file's content from its bytes on disk (gzip files decompressed)."""
    return gzip.decompress(raw) if path.name.endswith(".gz") else raw


def read_lines(data: bytes) -> tuple[list[str], np.ndarray]:
    """The lines of a file's content and a per-line flag for invalid UTF-8 (kept, with
    replacement chars)."""
    try:
        lines = data.decode("utf-8").split("\n")
        bad = np.zeros(len(lines), dtype=bool)
    except UnicodeDecodeError:
        # Rare path: decode line by line so one bad line does not cost the file.
        raw_lines = data.split(b"\n")
        lines, flags = [], []
        for raw_line in raw_lines:
            try:
                lines.append(raw_line.decode("utf-8"))
                flags.append(False)
            except UnicodeDecodeError:
                lines.append(raw_line.decode("utf-8", errors="replace"))
                flags.append(True)
        bad = np.array(flags, dtype=bool)
    return lines, bad


def _batches(files: list[LandingFile], batch_bytes: int) -> Iterator[list[LandingFile]]:
    batch: list[LandingFile] = []
    size = 0
    for f in files:
        if batch and size + f.size > batch_bytes:
            yield batch
            batch, size = [], 0
        batch.append(f)
        size += f.size
    if batch:
        yield batch


# Per folder: the lines the quick check accepted, and the others.
Lines = dict[str, tuple[pd.DataFrame, pd.DataFrame]]
Frame = tuple[Lines, list[tuple[LandingFile, str]], dict[str, str]]


def _prefetched(
    batches: Iterator[list[LandingFile]], quick_check: bool
) -> Iterator[tuple[list[LandingFile], Frame]]:
    """Read the next batch's files in a thread while DuckDB works on the current one.

    DuckDB releases the GIL while it executes, so file reading and line splitting overlap with
    parsing; at most two batches are in memory.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for batch in batches:
            future = pool.submit(_frame, batch, quick_check)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (batch, future)
        if pending is not None:
            yield pending[0], pending[1].result()


def _frame(batch: list[LandingFile], quick_check: bool = True) -> Frame:
    """The lines of a batch, per folder and split by the quick check (each statement scans only
    the lines it reads: DuckDB converts every row of a frame it scans), the files' sha256, and
    the files that cannot be read (each becomes one rejected line)."""
    frames: dict[str, list[pd.DataFrame]] = {}
    unreadable = []
    digests = {}
    for f in batch:
        try:
            raw = f.path.read_bytes()
            # The manifest records the bytes the lines came from; hashing them here (hashlib
            # lets go of the GIL) keeps a second read of every new file off the load's path.
            # A file that cannot be unpacked keeps its hash, so it is not read again unchanged.
            digests[f.rel] = hashlib.sha256(raw).hexdigest()
            lines, bad = read_lines(unpacked(f.path, raw))
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
            unreadable.append((f, f"file could not be read: {exc}"))
            continue
        frames.setdefault(f.folder, []).append(_lines_frame(f, lines, bad, quick_check))
    by_folder = {}
    for folder, parts in frames.items():
        lines = pd.concat(parts, ignore_index=True)
        quick_lines = lines["quick"].to_numpy()
        by_folder[folder] = (
            lines[quick_lines].drop(columns=["quick", "bad_utf8"]),
            lines[~quick_lines].drop(columns="quick"),
        )
    return by_folder, unreadable, digests


def _lines_frame(
    f: LandingFile, lines: list[str], bad: np.ndarray, quick_check: bool
) -> pd.DataFrame:
    """One file's lines, each flagged when the quick check accepts it (the others take the
    full SQL). A file with a line that is not UTF-8 takes the full SQL whole (rare; the flag
    is per line there)."""
    n = len(lines)
    check = quick.checker(f.folder) if quick_check and not bad.any() else None
    return pd.DataFrame(
        {
            "file": pd.Series([f.rel] * n, dtype=object),
            "folder": pd.Series([f.folder] * n, dtype=object),
            "line_no": np.arange(1, n + 1, dtype=np.int64),
            "line": pd.Series(lines, dtype=object),
            "bad_utf8": bad,
            "quick": np.fromiter(map(check, lines), dtype=bool, count=n)
            if check is not None
            else np.zeros(n, dtype=bool),
        }
    )


# Marks a line the quick check accepted whose required timestamp DuckDB does not take: the
# full SQL reads it again, and the marked row is then deleted, before anything counts rows.
RECHECK = "(read again)"  # no reason has this form: each names a field or the line


@functools.cache
def _parse_sql(folder: str) -> tuple[str, ...]:
    """The parse of one folder's lines of a batch (compiled from the models, once per folder
    and process); ``batch_parsed`` gets every folder's rows.

    Lines the quick check accepted (``quick``, see ``contract.quick``) only have their columns
    read: one multi-path read of their texts and one of the resource, and their required
    timestamps checked. The others, and any whose timestamp fails, take the full validation.
    """
    model = validation.RESOURCE_MODELS.get(folder)
    statements = []
    full_source = (
        "select file, folder, line_no, line, bad_utf8 from batch_lines "
        f"where folder = {sql_str(folder)}"
    )
    if model is not None and quick.checker(folder) is not None:
        email_path = model.email_path or ()
        stamps = quick.timestamp_fields(folder)
        # The texts one multi-path read takes from each line, and where each lands in its list.
        paths = {
            "topic": "$.topic",
            "sequence": "$.sequenceNumber",
            "version": "$.version",
            "id": f"$.resource.{model.id_field}",
            **({"email": "$.resource." + ".".join(email_path)} if email_path else {}),
            **{f"stamp {name}": f"$.resource.{name}" for name in stamps},
        }
        t = {name: f"t[{i}]" for i, name in enumerate(paths, start=1)}
        # the Timestamp rule on a text the quick check already knows is a JSON string
        stamps_ok = " and ".join(
            rules.Timestamp().sql_text_ok(t[f"stamp {name}"]) for name in stamps
        )
        customer_key = f"lower(trim({t['email']}))" if email_path else "NULL::varchar"
        statements.append(
            f"""
            insert into batch_parsed
            select file, folder, line_no,
                case when ok then NULL else line end as line,
                case when ok then NULL else '{RECHECK}' end as reason,
                {sql_str(folder)} as resource_type,
                {t["id"]} as resource_id, {t["topic"]} as topic,
                {t["sequence"]} as sequence_text, {t["version"]} as version,
                {customer_key} as customer_key,
                case when ok then json_extract(line, '$.resource') end as resource_json
            from (
                select *, coalesce({stamps_ok or "true"}, false) as ok
                from (
                    select file, folder, line_no, line,
                        json_extract_string(line, [{", ".join(map(sql_str, paths.values()))}])
                            as t
                    from batch_quick
                )
            )
            """
        )
        statements.append(
            "create or replace temp table batch_recheck as "
            "select file, folder, line_no, line, false as bad_utf8 from batch_parsed "
            f"where folder = {sql_str(folder)} and reason = '{RECHECK}'"
        )
        full_source += " union all select * from batch_recheck"
    statements.append(
        f"""
    insert into batch_parsed
    with decoded as (
        select *,
            case when is_object
                then json_transform(line, '{validation.ENVELOPE_STRUCT}') end as env
        from (
            select *, {validation.line_kinds_sql("line")}
            from (
                -- CRLF endings lose their CR; blank lines (spaces, tabs, a CR) are not records.
                -- trim() with a set of characters is slow on millions of rows, so it is asked
                -- only of a line that starts with one of them.
                select file, folder, line_no,
                    case when suffix(line, chr(13)) then line[:-2] else line end as line,
                    bad_utf8
                from ({full_source})
                where line <> ''
                  and (ord(line) not in (9, 13, 32) or trim(line, ' ' || chr(9) || chr(13)) <> '')
            )
        )
    ),
    parsed as ({validation.parsed_sql("decoded", folder)})
    select
        file, folder, line_no,
        -- the text is kept for rejected lines only: an accepted one lives on as its envelope
        case when bad_utf8 or reason is not null then line end as line,
        case when bad_utf8 then '{NOT_UTF8}' else reason end as reason,
        resource_type,
        resource_id,
        (env.topic ->> '$') as topic,
        (env.sequenceNumber ->> '$') as sequence_text,
        (env.version ->> '$') as version,
        customer_key,
        env.resource as resource_json
    from parsed
    """
    )
    if len(statements) > 1:
        statements.append(
            f"delete from batch_parsed where folder = {sql_str(folder)} and reason = '{RECHECK}'"
        )
    return tuple(statements)


BATCH_PARSED_SQL = """
create or replace temp table batch_parsed (
    file varchar, folder varchar, line_no bigint, line varchar, reason varchar,
    resource_type varchar, resource_id varchar, topic varchar, sequence_text varchar,
    version varchar, customer_key varchar, resource_json json
)
"""


def _parse_batch(conn: duckdb.DuckDBPyConnection, lines: Lines) -> None:
    """Parse a batch's lines into the temporary ``batch_parsed``, before the batch's transaction.

    Outside it on purpose: with DuckDB's default ``preserve_insertion_order`` (the warehouse's
    connections turn it off, but any connection may load), an empty insert inside a
    transaction (a folder with no quick line) hid the rows of the next large insert into the
    same table from the transaction's later reads (``test_ingest``'s large file with no quick
    line). The table is temporary and rebuilt for every batch: nothing durable depends on it.
    """
    conn.execute(BATCH_PARSED_SQL)
    for folder in sorted(lines):
        quick_lines, other_lines = lines[folder]
        conn.register("batch_quick", quick_lines)
        conn.register("batch_lines", other_lines)
        for statement in _parse_sql(folder):
            conn.execute(statement)
        conn.unregister("batch_quick")
        conn.unregister("batch_lines")


def _process_batch(
    conn: duckdb.DuckDBPyConnection, load_id: str, loaded_at: datetime, *, record_pending: bool
) -> None:
    """Write a parsed batch, inside the caller's transaction. ``record_pending`` is False on a
    first load: with no current state yet, ``recompute_current`` takes every key, so the
    pending list would only cost time (3 s of a 1,000,000-customer load, and its read 1.4 s),
    and a load interrupted before the current state is repaired the same way by the next."""
    # A bad line counts once per file it appears in (specification, "Fine print: input").
    conn.execute(
        """
        insert into raw.rejected_records
        select folder, file, min(line_no), reason, line, ?, ?
        from batch_parsed where reason is not null
        group by folder, file, line, reason
        """,
        [load_id, loaded_at],
    )
    # The same (resource type, id, sequence number) is one envelope: first seen wins. Ranked and
    # compared with the history on the keys alone (a window over whole rows moved every payload
    # through the sort); the new rows are then copied once, by row id, into the history. Only
    # keys seen more than once are ranked: a window over every key cost twice the grouping. The
    # join against the history builds on the (small) batch side: a batch costs one scan of keys.
    conn.execute(
        """
        create or replace temp table batch_accepted as
        with accepted as (
            select rowid as parsed_row, resource_type, resource_id,
                   sequence_text::hugeint as sequence_number, file, line_no
            from batch_parsed where reason is null
        ),
        repeated as (
            select resource_type, resource_id, sequence_number from accepted
            group by all having count(*) > 1
        )
        select parsed_row, resource_type, resource_id, sequence_number, file
        from accepted anti join repeated using (resource_type, resource_id, sequence_number)
        union all
        select parsed_row, resource_type, resource_id, sequence_number, file
        from (
            select * from accepted semi join repeated
            using (resource_type, resource_id, sequence_number)
        )
        qualify row_number() over (
            partition by resource_type, resource_id, sequence_number order by file, line_no
        ) = 1;
        create or replace temp table batch_new as
        select * from batch_accepted b
        anti join (
            select b.resource_type, b.resource_id, b.sequence_number
            from raw.envelopes e
            join batch_accepted b
              on e.resource_type = b.resource_type and e.resource_id = b.resource_id
             and e.sequence_number = b.sequence_number
        ) x using (resource_type, resource_id, sequence_number);
        """
    )
    conn.execute(
        """
        insert into raw.envelopes
        select resource_type, resource_id, sequence_text::hugeint, topic, version, customer_key,
               resource_json, file, line_no, ?, ?
        from batch_parsed where rowid in (select parsed_row from batch_new)
        """,
        [load_id, loaded_at],
    )
    if record_pending:
        conn.execute(
            "insert into raw.pending_current "
            "select distinct resource_type, resource_id from batch_new"
        )


TOUCHED_CUSTOMERS_SQL = """
insert into raw.touched_customers
select distinct customer_key, ? from (
    select e.customer_key from raw.envelopes e semi join touched t
      on e.resource_type = t.resource_type and e.resource_id = t.resource_id
    union all
    -- a referral's events go to its referrer too
    select r.customer_key from raw.current_resources r
    where r.resource_type = 'referrer' and r.resource_id in (
        select e.resource ->> 'referrerId' from raw.envelopes e semi join touched t
          on e.resource_type = t.resource_type and e.resource_id = t.resource_id
        where e.resource_type = 'referral')
    union all
    -- a referrer's name and email are in its referrals' recipient events
    select c.customer_key from raw.current_resources c
    where c.resource_type = 'referral' and c.resource ->> 'referrerId' in (
        select resource_id from touched where resource_type = 'referrer')
    union all
    -- tier names, ranks and thresholds shape every member's tier events and nudges
    select m.customer_key from raw.current_resources m
    where m.resource_type = 'loyalty_customer'
      and exists (select 1 from touched where resource_type = 'loyalty_vip_tier')
)
where customer_key is not null
"""


def refresh_current(conn: duckdb.DuckDBPyConnection, load_id: str) -> None:
    """Recompute the current state of pending resources: highest sequence number, deletes applied;
    record the customers they touch (``raw.touched_customers``) in the same transaction."""
    conn.execute("begin transaction")
    try:
        recompute_current(conn, load_id)
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise


def recompute_current(conn: duckdb.DuckDBPyConnection, load_id: str) -> None:
    """``refresh_current``'s work, inside the caller's transaction (the erasure has its own).

    One pass per load: the winning row of each key is found on the keys alone, then fetched by
    row id, so payloads are never sorted. (Joining back on type, id and sequence number took
    15.7 s for 8.9 million resources and 1 s for 200; by row id, 5.7 s and 0.09 s. Row ids hold
    within the transaction: nothing else writes the history meanwhile.) A deleted key is left
    out of the winners, not filtered from the history's scan: with a filter there, DuckDB
    guessed the history the smaller side and built its hash table on the payloads (4.2 s against
    1.8 s for 8.9 million). An empty current state (a first load) takes every key's winner
    without matching the touched keys or deleting, and touches every customer of the history.
    """
    first = current_is_empty(conn)
    if not first:
        conn.execute(
            "create or replace temp table touched as "
            "select distinct resource_type, resource_id from raw.pending_current"
        )
    touched_only = "" if first else (
        "semi join touched t "
        "on e.resource_type = t.resource_type and e.resource_id = t.resource_id"
    )  # fmt: skip
    # (resource type, id, sequence number) is unique in the history, so both arg_max pick the
    # same row: the key's latest version.
    conn.execute(
        f"""
        create or replace temp table winners as
        select arg_max(e.rowid, e.sequence_number) as envelope_row
        from raw.envelopes e {touched_only}
        group by e.resource_type, e.resource_id
        having arg_max(e.topic, e.sequence_number) <> 'delete'
        """
    )
    if not first:
        conn.execute(
            "delete from raw.current_resources c using touched t "
            "where c.resource_type = t.resource_type and c.resource_id = t.resource_id"
        )
    conn.execute(
        "insert into raw.current_resources "
        "select e.* from raw.envelopes e semi join winners w on e.rowid = w.envelope_row"
    )
    if first:
        # Every key was recomputed, so every customer of the history is touched.
        conn.execute(
            "insert into raw.touched_customers select distinct customer_key, ? "
            "from raw.envelopes where customer_key is not null",
            [load_id],
        )
    else:
        record_touched(conn, load_id)
    conn.execute("delete from raw.pending_current")


def record_touched(conn: duckdb.DuckDBPyConnection, load_id: str) -> None:
    """Record what the records of the temp table ``touched`` (resource type and id) change:
    the customers (``TOUCHED_CUSTOMERS_SQL``) and the resource types (``raw.touched_types``).
    Each rule that reaches other customers starts from a touched record, so the types of the
    touched records are the types of everything the load changed."""
    conn.execute(TOUCHED_CUSTOMERS_SQL, [load_id])
    conn.execute(
        "insert into raw.touched_types select distinct resource_type, ? from touched", [load_id]
    )


def current_is_empty(conn: duckdb.DuckDBPyConnection) -> bool:
    """No current state yet (a first load): it is then computed from the whole history."""
    return conn.execute(
        "select count(*) = 0 from (select 1 from raw.current_resources limit 1)"
    ).fetchone()[0]


def load_landing(
    conn: duckdb.DuckDBPyConnection,
    landing: Path,
    *,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    quick_check: bool = True,
) -> LoadReport:
    """Load every landing file not loaded before; loading again changes nothing.

    ``quick_check=False`` sends every line through the full SQL validation: the same result,
    slower (the tests compare the two)."""
    ensure_schema(conn)
    started = datetime.now(UTC)
    report = LoadReport(load_id=uuid.uuid4().hex)
    files = discover(landing)
    report.files_seen = len(files)
    known = conn.execute(
        "select file, content_hash, size_bytes, mtime_ns from raw.loaded_files"
    ).fetchall()
    known_stat = {(f, s, m) for f, _, s, m in known}
    known_hash = {(f, h) for f, h, _, _ in known}
    known_files = {f for f, _, _, _ in known}
    todo: list[LandingFile] = []
    digests: dict[str, str] = {}
    for f in files:
        if (f.rel, f.size, f.mtime_ns) in known_stat:
            continue
        if f.rel in known_files:
            # A known name with a new size or time: unchanged bytes are skipped. Files are meant
            # to be immutable; a changed one is loaded again (dedupe keeps the envelopes it
            # shares with its old self) and named in the report.
            if (f.rel, file_hash(f.path)) in known_hash:
                continue
            log.warning("landing file %s changed after it was loaded; loading it again", f.rel)
            report.files_changed.append(f.rel)
        todo.append(f)
    report.files_skipped = len(files) - len(todo)

    size = sum(f.size for f in todo)
    first = current_is_empty(conn)
    with progress.bar(f"load {len(todo):,} files", size, "B", scale=True) as loaded:
        for batch, (lines, unreadable, read) in _prefetched(
            _batches(todo, batch_bytes), quick_check
        ):
            digests.update(read)
            loaded_at = datetime.now(UTC)
            _parse_batch(conn, lines)
            conn.execute("begin transaction")
            try:
                _process_batch(conn, report.load_id, loaded_at, record_pending=not first)
                for f, reason in unreadable:
                    conn.execute(
                        "insert into raw.rejected_records values (?, ?, 0, ?, NULL, ?, ?)",
                        [f.folder, f.rel, reason, report.load_id, loaded_at],
                    )
                per_file = _per_file_counts(conn, batch, {f.rel for f, _ in unreadable})
                conn.executemany(
                    "insert into raw.loaded_files values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        [
                            f.rel,
                            digests.get(f.rel, ""),  # none: unreadable
                            f.size,
                            f.mtime_ns,
                            *per_file[f.rel],
                            report.load_id,
                            loaded_at,
                        ]
                        for f in batch
                    ],
                )
                conn.execute("commit")
            except BaseException:
                conn.execute("rollback")
                raise
            for f in batch:
                n_lines, n_new, n_dup, n_rej = per_file[f.rel]
                report.lines += n_lines
                report.envelopes_new += n_new
                report.envelopes_duplicate += n_dup
                report.rejected += n_rej
                report.rejected_by_type[f.folder] = report.rejected_by_type.get(f.folder, 0) + n_rej
                report.new_by_type[f.folder] = report.new_by_type.get(f.folder, 0) + n_new
            report.files_loaded += len(batch)
            log.info("loaded %d files (%d lines so far)", len(batch), report.lines)
            loaded.update(sum(f.size for f in batch))

    refresh_current(conn, report.load_id)
    report.current_resources = conn.execute(
        "select count(*) from raw.current_resources"
    ).fetchone()[0]
    conn.execute(
        "insert into raw.loads values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            report.load_id,
            started,
            datetime.now(UTC),
            str(landing),
            report.files_seen,
            report.files_loaded,
            report.files_skipped,
            report.lines,
            report.envelopes_new,
            report.envelopes_duplicate,
            report.rejected,
            report.current_resources,
        ],
    )
    return report


def _per_file_counts(
    conn: duckdb.DuckDBPyConnection, batch: list[LandingFile], unreadable: set[str]
) -> dict[str, tuple[int, int, int, int]]:
    """(lines, new envelopes, duplicate envelopes, rejected) per file of the current batch."""
    rows = conn.execute(
        """
        with parsed as (
            select file, count(*) as lines, count(*) filter (where reason is null) as accepted
            from batch_parsed group by file
        ),
        new as (select file, count(*) as n from batch_new group by file),
        rejected as (
            select file, count(*) as n from (
                select distinct file, line, reason from batch_parsed where reason is not null
            ) group by file
        )
        select p.file, p.lines, coalesce(n.n, 0), p.accepted - coalesce(n.n, 0), coalesce(r.n, 0)
        from parsed p left join new n using (file) left join rejected r using (file)
        """
    ).fetchall()
    counts = {f: (lines, new, dup, rej) for f, lines, new, dup, rej in rows}
    return {f.rel: counts.get(f.rel, (0, 0, 0, int(f.rel in unreadable))) for f in batch}
