"""A deterministic, realistic landing folder for N customers, generated set-based in DuckDB.

Every random choice is ``hash(seed, salt, entity...)`` so the same arguments give the same
rows; rows are written in an explicit order, so the same arguments give byte-identical files
(for one DuckDB version, which pyproject.toml pins). No Python loop touches a record.

The data tells a consistent story: customers place orders; paid orders lead to review
requests, some requests to reviews (ratings skewed to 4-5, sentiment consistent with the
rating); part of the customers join loyalty, earn points that follow their orders and reviews,
redeem some, and move up VIP tiers by spend; a minority refer friends, few referrals succeed.
Then delivery gets messy as in production: updates and deletes with higher sequence numbers,
files out of order, envelopes delivered twice, and a small share of broken lines.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from okendo_pipeline.lib import progress
from okendo_pipeline.lib.okendo.contract.rules import ENVELOPE_VERSION


def _sql(name: str) -> str:
    """SQL templates live beside this module; ``{placeholders}`` are filled by ``generate``."""
    return (Path(__file__).parent / "sql" / name).read_text(encoding="utf-8")


LINES_PER_FILE = 250_000
DUPLICATE_SHARE = 0.015
DEFAULT_BAD_SHARE = 0.001
HISTORY_DAYS = 1095

FIRST_NAMES = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Oliver",
    "Sophia",
    "Elijah",
    "Isabella",
    "James",
    "Mia",
    "William",
    "Amelia",
    "Benjamin",
    "Harper",
    "Lucas",
    "Evelyn",
    "Henry",
    "Abigail",
    "Theodore",
    "Emily",
    "Jack",
    "Ella",
    "Levi",
    "Chloe",
    "Alexander",
    "Grace",
    "Jackson",
    "Zoe",
    "Mateo",
    "Nora",
    "Daniel",
    "Lily",
    "Michael",
    "Hannah",
    "Mason",
    "Aria",
    "Sebastian",
    "Leah",
    "Ethan",
    "Aiko",
    "Ravi",
    "Sofia",
    "Chen",
    "Fatima",
    "Jose",
    "Ingrid",
    "Kwame",
    "Anaïs",
    "Zoë",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "O'Brien",
    "Müller",
    "Kowalski",
    "Tanaka",
]
PRODUCTS = [
    "Hydrating Face Serum",
    "Vitamin C Brightening Cream",
    "Gentle Foaming Cleanser",
    "Overnight Repair Mask",
    "Daily SPF 50 Sunscreen",
    "Rose Water Toner",
    "Retinol Night Oil",
    "Hyaluronic Eye Gel",
    "Clay Detox Mask",
    "Lip Butter Balm",
    "Argan Hair Oil",
    "Volumizing Shampoo",
    "Silk Repair Conditioner",
    "Curl Defining Cream",
    "Scalp Scrub",
    "Body Lotion Unscented",
    "Coconut Body Wash",
    "Exfoliating Body Polish",
    "Hand Cream Trio",
    "Bamboo Toothbrush Set",
    "Charcoal Soap Bar",
    "Lavender Bath Salts",
    "Matte Lipstick",
    "Tinted Moisturiser",
    "Brow Gel",
    "Lengthening Mascara",
    "Setting Powder",
    "Makeup Brush Kit",
    "Nail Care Oil",
    "Travel Minis Set",
    "Gift Card",
    "Beard Oil",
    "Aftershave Balm",
    "Deodorant Stick",
    "Dry Shampoo",
    "Heat Protect Spray",
    "Pillowcase Silk",
    "Jade Roller",
    "Konjac Sponge",
    "Cotton Rounds",
]
TIERS = [
    ("tier-bronze", "Bronze", 0, "0.00"),
    ("tier-silver", "Silver", 1, "300.00"),
    ("tier-gold", "Gold", 2, "800.00"),
    ("tier-platinum", "Platinum", 3, "2000.00"),
]
SKIN_TYPES = ["Dry", "Oily", "Combination", "Normal", "Sensitive"]
AGE_RANGES = ["18-24", "25-34", "35-44", "45-54", "55+"]
HAIR_COLORS = ["Black", "Brown", "Blonde", "Red", "Grey"]
REVIEW_TITLES = {
    5: ["Absolutely love it", "Best purchase this year", "Five stars", "Holy grail"],
    4: ["Really good", "Very happy", "Would buy again", "Great value"],
    3: ["It's okay", "Decent", "Mixed feelings", "Does the job"],
    2: ["Not for me", "Disappointed", "Expected more", "Meh"],
    1: ["Terrible", "Broke out", "Do not buy", "Waste of money"],
}


@dataclass(frozen=True)
class GenerateReport:
    out: Path
    customers: int
    files: int
    lines: int
    bad_lines: int
    duplicate_lines: int
    seconds: float


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _titles_sql() -> str:
    return "[" + ", ".join(_sql_list(REVIEW_TITLES[r]) for r in (1, 2, 3, 4, 5)) + "]"


def _macros(seed: int, as_of: date) -> str:
    start = datetime.combine(as_of, datetime.min.time()) - timedelta(days=HISTORY_DAYS)
    return f"""
    create or replace temp macro u(salt, a, b) as
        (hash({seed}, salt, a, b) % 1000003) / 1000003.0;
    create or replace temp macro pick(list, salt, a, b) as
        list[1 + (hash({seed}, salt, a, b) % len(list))::bigint];
    create or replace temp macro hex16(salt, a, b) as
        lpad(lower(to_hex(hash({seed}, salt, a, b))), 16, '0');
    create or replace temp macro okid(salt, a, b) as
        substr(hex16(salt, a, b), 1, 8) || '-' || substr(hex16(salt, a, b), 9, 4) || '-4'
        || substr(hex16(salt, a, b), 14, 3) || '-a' || substr(hex16(salt || '2', a, b), 1, 3)
        || '-' || substr(hex16(salt || '2', a, b), 5, 12);
    create or replace temp macro start_ts() as timestamp '{start:%Y-%m-%d %H:%M:%S}';
    create or replace temp macro as_of_ts() as timestamp '{as_of:%Y-%m-%d} 00:00:00';
    create or replace temp macro between_ts(lo, hi, x) as
        lo + to_milliseconds(((epoch_ms(hi) - epoch_ms(lo)) * x)::bigint);
    create or replace temp macro iso(ts) as strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ');
    create or replace temp macro before_as_of(ts) as ts < as_of_ts();
    """


# The entities step draws customers, orders, reviews, members...; the envelopes step turns them
# into (resource_type, resource_id, happened_at, tiebreak, topic, resource JSON), sequence numbers
# following happened_at per type; the lines step serialises, cuts files, duplicates and breaks.
ENTITY_SQL = _sql("generator_entities.sql")

ENVELOPE_SQL = _sql("generator_envelopes.sql")

LINES_SQL = _sql("generator_lines.sql")


def _signed_hashes(sql: str) -> str:
    """``hash(seed, ...)`` is a UBIGINT; make it a non-negative BIGINT that mixes with integers."""
    return re.sub(r"hash\((\d+),([^()]*)\)", r"((hash(\1,\2) >> 1)::bigint)", sql)


def generate(
    out: Path,
    customers: int,
    *,
    seed: int = 42,
    as_of: date,
    bad_share: float = DEFAULT_BAD_SHARE,
    memory_limit: str = "3GB",
    threads: int | None = None,
) -> GenerateReport:
    """Write ``<out>/<resource_type>/*.jsonl``; existing resource folders there are replaced."""
    if customers < 1:
        raise ValueError("--customers must be at least 1")
    if not 0 <= bad_share < 1:
        raise ValueError("bad share must be in [0, 1)")
    began = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".generator-tmp"
    conn = duckdb.connect()
    try:
        conn.execute("set enable_progress_bar = false")
        conn.execute(f"set memory_limit = '{memory_limit}'")
        conn.execute(f"set temp_directory = '{tmp}'")
        if threads:
            conn.execute(f"set threads = {threads}")
        params = {
            "seed": seed,
            "customers": customers,
            "first_names": _sql_list(FIRST_NAMES),
            "last_names": _sql_list(LAST_NAMES),
            "products": _sql_list(PRODUCTS),
            "n_products": len(PRODUCTS),
            "tiers": ", ".join(
                f"{{'tier_id': '{t}', 'name': '{n}', 'rank': {r}, 'threshold': '{s}'}}"
                for t, n, r, s in TIERS
            ),
            "titles": _titles_sql(),
            "skin_types": _sql_list(SKIN_TYPES),
            "age_ranges": _sql_list(AGE_RANGES),
            "hair_colors": _sql_list(HAIR_COLORS),
            "version": ENVELOPE_VERSION,
            "lines_per_file": LINES_PER_FILE,
            "duplicate_share": DUPLICATE_SHARE,
            "bad_share": bad_share,
        }
        stages = (_macros(seed, as_of), ENTITY_SQL, ENVELOPE_SQL, LINES_SQL)
        with progress.bar(f"generate {customers:,} customers", len(stages), "step") as steps:
            for sql in stages:
                conn.execute(_signed_hashes(sql.format(**params)))
                steps.update(1)
        files = conn.execute(
            "select resource_type, file_name from g_lines group by all order by all"
        ).fetchall()
        for folder in {rt for rt, _ in files}:
            target = out / folder
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
        with progress.bar("write landing files", len(files), "file") as written:
            for resource_type, file_name in files:
                path = out / resource_type / file_name
                conn.execute(
                    f"""copy (select line from g_lines
                              where resource_type = ? and file_name = ? order by sort_key, line)
                        to '{path}'
                        (format csv, header false, quote '', escape '', delimiter '\x1f')""",
                    [resource_type, file_name],
                )
                written.update(1)
        lines, bad, dup = conn.execute(
            "select count(*), count(*) filter (kind = 'bad'), count(*) filter (kind = 'duplicate') "
            "from g_lines"
        ).fetchone()
    finally:
        conn.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return GenerateReport(
        out=out,
        customers=customers,
        files=len(files),
        lines=lines,
        bad_lines=bad,
        duplicate_lines=dup,
        seconds=time.perf_counter() - began,
    )
