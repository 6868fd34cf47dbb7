"""The per-record models and the set-based SQL must reject the same lines for the same reasons."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb

from okendo_pipeline.lib.okendo.contract.validation import check_line
from okendo_pipeline.lib.okendo.generator.generate import generate
from okendo_pipeline.lib.okendo.loader import load_landing
from okendo_pipeline_tests.samples import VALID, envelope, write_landing

ODD_VALUES = [
    None,
    0,
    -1,
    7,
    2.5,
    "",
    "x",
    "12.5",
    "2025-03-01T10:15:30Z",
    "2025-03-01",
    [],
    [{}],
    {},
    {"email": "a@b.co"},
    True,
]


def _mutations() -> list[tuple[str, str]]:
    """(folder, line): every top-level and nested field of every type set to odd values."""
    out: list[tuple[str, str]] = []
    for rt, base in VALID.items():
        out.append((rt, json.dumps(envelope(rt, 1))))
        for key, value in base.items():
            out.append((rt, json.dumps(envelope(rt, 2, **{key: ...}))))
            for odd in ODD_VALUES:
                out.append((rt, json.dumps(envelope(rt, 3, **{key: odd}))))
            if isinstance(value, dict):
                for sub in value:
                    for odd in ODD_VALUES:
                        out.append((rt, json.dumps(envelope(rt, 4, **{key: {**value, sub: odd}}))))
            if isinstance(value, list) and value and isinstance(value[0], dict):
                for sub in value[0]:
                    for odd in ODD_VALUES:
                        out.append(
                            (
                                rt,
                                json.dumps(
                                    envelope(rt, 5, **{key: [value[0], {**value[0], sub: odd}]})
                                ),
                            )
                        )
                out.append((rt, json.dumps(envelope(rt, 6, **{key: [value[0], "str", 3]}))))
        for field in ("topic", "sequenceNumber", "resourceType", "resource", "version"):
            for odd in ODD_VALUES:
                env = envelope(rt, 7)
                env[field] = odd
                out.append((rt, json.dumps(env)))
        env = envelope(rt, 8, topic="delete")
        env["resource"] = {}
        out.append((rt, json.dumps(env)))
    out += [
        ("review", "{broken"),
        ("review", "[]"),
        ("review", '"text"'),
        ("review", "null"),
        ("review", "12"),
        # whether a line is an object is read from its first character unless it is whitespace
        ("review", " \t" + json.dumps(envelope("review", 9))),
        ("review", "  [1]"),
        ("review", '"{}"'),
        ("order", json.dumps(envelope("review", 1))),
        ("nonsense", "{}"),
    ]
    return out


def _sql_reasons(conn: duckdb.DuckDBPyConnection) -> dict[tuple[str, int], str]:
    rows = conn.execute("select file, line, reason from raw.rejected_records").fetchall()
    return {(f, line): r for f, line, r in rows}


def test_models_and_sql_agree_on_every_mutation(
    landing: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    corpus = _mutations()
    by_folder: dict[str, list[str]] = {}
    for folder, line in corpus:
        by_folder.setdefault(folder, []).append(line)
    for folder, lines in by_folder.items():
        write_landing(landing, folder, "corpus.jsonl", lines)
    load_landing(conn, landing)
    sql = _sql_reasons(conn)
    disagreements = []
    rejected = 0
    for folder, lines in by_folder.items():
        for n, line in enumerate(lines, start=1):
            expected = check_line(line, folder).reason
            rejected += expected is not None
            got = sql.get((f"{folder}/corpus.jsonl", n))
            if expected != got:
                disagreements.append((folder, n, expected, got))
    assert len(corpus) > 1500
    assert rejected > 500  # the corpus really exercises the rules
    assert disagreements == []


def test_models_and_sql_agree_on_generated_data(
    tmp_path: Path, conn: duckdb.DuckDBPyConnection
) -> None:
    out = tmp_path / "gen"
    generate(out, 150, seed=5, as_of=date(2026, 6, 1), bad_share=0.05)
    load_landing(conn, out)
    sql = _sql_reasons(conn)
    checked = 0
    for path in sorted(out.glob("*/*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            assert check_line(line, path.parent.name).reason == sql.get(
                (f"{path.parent.name}/{path.name}", n)
            ), (path, n)
            checked += 1
    assert checked > 1000
    assert len(sql) > 20
