"""The loader's quick check: what it accepts loads exactly as the full SQL validation loads it.

The quick check (``contract/quick.py``) lets a line skip the rule-by-rule SQL when msgspec's
typed decoding says every rule passes. These tests load the same folders with the check on
and off and compare every table the load writes, over the parity corpus (every field of every
type set to odd values), lines at the edges of what the two readers accept, and generated data.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from okendo_pipeline.lib import warehouse
from okendo_pipeline.lib.okendo.contract import quick
from okendo_pipeline.lib.okendo.contract.models import RESOURCE_MODELS, TIMESTAMP
from okendo_pipeline.lib.okendo.contract.validation import check_line
from okendo_pipeline.lib.okendo.generator.generate import generate
from okendo_pipeline.lib.okendo.loader import load_landing
from okendo_pipeline_tests.samples import VALID, envelope, write_landing
from okendo_pipeline_tests.test_validation_parity import _mutations

TABLES = {
    "envelopes": "resource_type, resource_id, sequence_number, topic, version, customer_key, "
    "resource::varchar, file, line",
    "current_resources": "resource_type, resource_id, sequence_number, topic, version, "
    "customer_key, resource::varchar, file, line",
    "rejected_records": "resource_type, file, line, reason, raw",
    "touched_customers": "customer_key",
    "loaded_files": "file, content_hash, lines, envelopes_new, envelopes_duplicate, rejected",
}


def _edge_lines() -> list[tuple[str, str]]:
    """(folder, line): where msgspec and DuckDB read JSON, numbers, text or keys differently."""
    review = json.dumps(envelope("review", 11))
    order = json.dumps(envelope("order", 12))
    out = [
        # a key twice: DuckDB reads the first occurrence, msgspec checks each
        *(
            ("review", review.replace(old, f"{first}, {second}" if second else first))
            for old, first, second in [
                ('"reviewId": "r-1"', '"reviewId": ""', '"reviewId": "r-1"'),
                ('"reviewId": "r-1"', '"reviewId": "r-9"', '"reviewId": "r-1"'),
                ('"reviewId": "r-1"', '"reviewId": "r-1"', '"reviewId": 5'),
                ('"email": "ada@example.com"', '"email": "nope"', '"email": "ada@example.com"'),
                ('"email": "ada@example.com"', '"email": "bob@example.com"', '"email": "a@b.co"'),
                ('"rating": 5', '"rating": 9', '"rating": 5'),
                ('"rating": 5', '"rating": 5', '"rating": 9'),
                ('"status": "approved"', '"status": "approved"', '"status": "gone"'),
                (
                    '"dateCreated": "2025',
                    '"dateCreated": "2025-02-30T10:15:30Z", "dateCreated": "2025',
                    "",
                ),
                (
                    '"dateCreated": "2025',
                    '"dateCreated": "2025-03-02T10:15:30Z", "dateCreated": "2025',
                    "",
                ),
            ]
        ),
        # JSON DuckDB tolerates and the standard does not
        ("review", review[:-2] + ",}}"),  # a comma after the resource's last field
        ("order", order.replace('"currency": "USD"', '"currency": NaN')),
        ("order", order.replace('"orderNumber": "#1"', '"orderNumber": "\\ud800"')),
        # line endings and blank space around a record
        ("order", order + "\r"),
        ("order", "  " + order),
        ("order", order + "  "),
        ("order", "\t" + order + "\r"),
    ]
    for seq in ("0" * 38 + "1", "1" * 39, "0" * 40, "1" * 38):
        env = envelope("order", 13)
        env["sequenceNumber"] = seq
        out.append(("order", json.dumps(env)))
    odd_numbers = [2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**30, -(2**63), -(2**63) - 1, 1e308, -0.0]
    for value in odd_numbers:
        out.append(("review", json.dumps(envelope("review", 14, rating=value))))
        out.append(("order", json.dumps(envelope("order", 15, totalPrice=value))))
        out.append(("loyalty_vip_tier", json.dumps(envelope("loyalty_vip_tier", 16, rank=value))))
    emails = [" ada@example.com ", "\tada@example.com", "ada@example.com\u00a0", "ADA@EXAMPLE.COM"]
    emails += ["a da@example.com", "ada@@example.com", "ada@example", "é@ü.de", "ada@example.com\n"]
    for email in emails:
        out.append(("customer", json.dumps(envelope("customer", 17, email=email))))
    stamps = [
        "2025-03-01t10:15:30z",
        "2025-03-01T10:15:30z",
        "2025-03-01T24:00:00Z",
        "2025-03-01T10:15:60Z",
        "2025-02-30T10:15:30Z",
        "2025-03-01T10:15:30.123456789Z",
        "2025-03-01T10:15Z",
        "2025-03-01T10:15:30+0100",
        "2025-03-01T10:15:30+25:00",
        "2025-03-01 10:15:30Z",
        "0000-03-01T10:15:30Z",
        "2025-03-01T10:15:30.Z",
    ]
    for stamp in stamps:
        out.append(("order", json.dumps(envelope("order", 18, dateCreated=stamp))))
    answers = [
        {"questionId": "q", "title": "no type", "value": 3},
        {"questionId": "q", "questionType": None, "value": 3},
        {"questionId": "q", "questionType": "nps", "value": 11},
        {"questionId": "q", "questionType": "nps", "value": 10},
        {"questionId": "q", "questionType": "nps", "value": "9"},
        {"questionId": "q", "questionType": "nps"},
        {"questionId": "q", "questionType": "rating", "value": 11},
        {"questionId": "q", "questionType": "slider", "value": 1},
    ]
    for answer in answers:
        env = envelope(
            "survey_response", 20, answers=[VALID["survey_response"]["answers"][1], answer]
        )
        out.append(("survey_response", json.dumps(env)))
    for rt in VALID:  # every type, deleted with nothing but its id
        env = envelope(rt, 19, topic="delete")
        env["resource"] = {RESOURCE_MODELS[rt].id_field: "gone"}
        out.append((rt, json.dumps(env)))
    return out


def _load(landing: Path, path: Path, *, quick_check: bool) -> None:
    with warehouse.connect(str(path)) as conn:
        load_landing(conn, landing, quick_check=quick_check)


def _differences(a: Path, b: Path) -> dict[str, tuple[int, int, int]]:
    """Per table: rows, rows only in ``a``, rows only in ``b``."""
    conn = duckdb.connect()
    conn.execute(f"attach '{a}' as a (read_only)")
    conn.execute(f"attach '{b}' as b (read_only)")
    out = {}
    for table, cols in TABLES.items():
        only = [
            conn.execute(
                f"select count(*) from (select {cols} from {x}.raw.{table} "
                f"except all select {cols} from {y}.raw.{table})"
            ).fetchone()[0]
            for x, y in (("a", "b"), ("b", "a"))
        ]
        rows = conn.execute(f"select count(*) from a.raw.{table}").fetchone()[0]
        out[table] = (rows, *only)
    return out


def _write_corpus(landing: Path, corpus: list[tuple[str, str]]) -> None:
    """One file per folder; each line gets a sequence number of its own where it has the
    helper's six digits, so no accepted line hides behind an earlier one as its duplicate."""
    by_folder: dict[str, list[str]] = {}
    for n, (folder, line) in enumerate(corpus):
        line = re.sub(
            r'"sequenceNumber": "[0-9]{6}"', f'"sequenceNumber": "{n:09d}"', line, count=1
        )
        by_folder.setdefault(folder, []).append(line)
    for folder, lines in by_folder.items():
        write_landing(landing, folder, "corpus.jsonl", lines)


@pytest.mark.parametrize("corpus", ["mutations", "edges"])
def test_quick_and_full_validation_load_the_same(
    tmp_path: Path, landing: Path, corpus: str
) -> None:
    lines = _mutations() if corpus == "mutations" else _edge_lines()
    _write_corpus(landing, lines)
    quick_db, full_db = tmp_path / "quick.duckdb", tmp_path / "full.duckdb"
    _load(landing, quick_db, quick_check=True)
    _load(landing, full_db, quick_check=False)
    differences = _differences(quick_db, full_db)
    assert differences["envelopes"][0] > (800 if corpus == "mutations" else 40)
    assert differences["rejected_records"][0] > (500 if corpus == "mutations" else 20)
    assert {t: d[1:] for t, d in differences.items()} == {t: (0, 0) for t in TABLES}
    # and the quick check really took part: it accepted some of these lines
    accepted = sum(1 for folder, line in lines if (check := quick.checker(folder)) and check(line))
    assert accepted > (100 if corpus == "mutations" else 15)


def test_quick_and_full_validation_load_generated_data_the_same(tmp_path: Path) -> None:
    landing = tmp_path / "gen"
    generate(landing, 300, seed=11, as_of=date(2026, 6, 1), bad_share=0.05)
    quick_db, full_db = tmp_path / "quick.duckdb", tmp_path / "full.duckdb"
    _load(landing, quick_db, quick_check=True)
    _load(landing, full_db, quick_check=False)
    differences = _differences(quick_db, full_db)
    assert differences["envelopes"][0] > 500
    assert {t: d[1:] for t, d in differences.items()} == {t: (0, 0) for t in TABLES}


def test_the_quick_check_accepts_only_valid_lines_and_nearly_all_of_them(tmp_path: Path) -> None:
    """Never a line the rules reject, but for its timestamps (the loader checks those in
    DuckDB); at least 95% of the valid lines of each type it covers (else the load would be
    as slow as before without any test noticing)."""
    landing = tmp_path / "gen"
    generate(landing, 300, seed=12, as_of=date(2026, 6, 1), bad_share=0.05)
    covered = 0
    for folder in sorted(p.name for p in landing.iterdir()):
        check = quick.checker(folder)
        if check is None:
            continue
        covered += 1
        valid = accepted = 0
        for path in sorted((landing / folder).glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                reason = check_line(line, folder).reason
                if check(line):
                    accepted += 1
                    assert reason is None or all(
                        part.endswith(TIMESTAMP.message) for part in reason.split("; ")
                    ), (folder, line, reason)
                valid += reason is None
        assert accepted >= 0.95 * valid, (folder, accepted, valid)
    assert covered >= 11  # every type but loyalty adjustments (a non-zero integer)
