"""The text ``okendo-pipeline status`` prints: what was loaded, what was rejected and why."""

from __future__ import annotations

import duckdb


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
        return "\n".join(lines)
    finally:
        conn.close()
