"""Generator and ingestion at a chosen size: wall time and peak memory, medians over runs.

Each phase runs in its own process so its peak resident memory is its own. As references
measured in the same run: the same load with every line through the full SQL validation
(``quick_check=False``, the loader before its quick check), and DuckDB's own newline-delimited
JSON reader counting the same files (parsing every byte once, validating nothing), whose
ratio shows what validation, dedupe and history cost beyond reading the data.

    python benchmarks/bench_ingest.py --customers 1000000 --runs 1
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENERATE = """
from datetime import date
from pathlib import Path
from okendo_pipeline.lib.okendo.generator.generate import generate
r = generate(Path({out!r}), {customers}, seed=42, as_of=date(2026, 11, 1))
print(r.lines, r.files)
"""

INGEST = """
from pathlib import Path
from okendo_pipeline.lib import warehouse
from okendo_pipeline.lib.okendo.loader import load_landing
with warehouse.connect({db!r}) as conn:
    r = load_landing(conn, Path({landing!r}), quick_check={quick})
print(r.lines, r.envelopes_new, r.rejected)
"""

REFERENCE = """
import duckdb
conn = duckdb.connect()
conn.execute("set enable_progress_bar = false")
n = conn.execute(
    "select count(*), sum(length(resourceType)), sum(json_array_length(resource, '$.answers')) "
    "from read_json({glob!r}, format='newline_delimited', "
    "columns={{'resourceType': 'VARCHAR', 'resource': 'JSON'}}, ignore_errors=true)"
).fetchone()[0]
print(n)
"""


PEAK = "\nimport resource\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"


def run_phase(code: str) -> tuple[float, float, str]:
    """(seconds, peak RSS in MiB, stdout) of one fresh Python process."""
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code + PEAK], capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if proc.returncode:
        raise SystemExit(f"phase failed:\n{proc.stderr}")
    *out, peak_kib = proc.stdout.strip().splitlines()
    return seconds, int(peak_kib) / 1024, "\n".join(out)


def _count_lines(landing: Path) -> int:
    total = 0
    for path in landing.glob("*/*.jsonl"):
        with path.open("rb") as fh:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda f=fh: f.read(1 << 24), b""))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument(
        "--reuse-landing",
        action="store_true",
        help="keep <workdir>/landing from an earlier run and skip the generator",
    )
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="okendo-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    landing, db = work / "landing", work / "bench.duckdb"
    results: dict[str, list[tuple[float, float]]] = {
        "generate": [],
        "ingest": [],
        "full SQL": [],
        "reference": [],
    }
    summary = ""
    for run in range(args.runs):
        if args.reuse_landing and landing.is_dir():
            results.pop("generate", None)
            summary = f"{_count_lines(landing)} {len(list(landing.glob('*/*.jsonl')))}"
        else:
            seconds, peak, summary = run_phase(
                GENERATE.format(out=str(landing), customers=args.customers)
            )
            results["generate"].append((seconds, peak))
        for phase, quick in (("ingest", True), ("full SQL", False)):
            for leftover in work.glob("bench.duckdb*"):
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
            seconds, peak, loaded = run_phase(
                INGEST.format(db=str(db), landing=str(landing), quick=quick)
            )
            results[phase].append((seconds, peak))
        seconds, peak, _ = run_phase(REFERENCE.format(glob=str(landing / "*" / "*.jsonl")))
        results["reference"].append((seconds, peak))
        print(f"run {run + 1}/{args.runs}: lines/files {summary}; loaded/new/rejected {loaded}")
    lines = int(summary.split()[0])
    print(f"\n{args.customers:,} customers, {lines:,} landing lines, medians of {args.runs} run(s)")
    med = {
        name: (statistics.median(s for s, _ in runs), max(p for _, p in runs))
        for name, runs in results.items()
    }
    for name, (seconds, peak) in med.items():
        rate = lines / seconds
        print(f"  {name:<10} {seconds:8.1f} s  {rate:12,.0f} lines/s  peak {peak:7.0f} MiB")
    print(f"  ingest / full SQL ingest: {med['ingest'][0] / med['full SQL'][0]:.2f}x")
    print(f"  ingest / reference read: {med['ingest'][0] / med['reference'][0]:.2f}x")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
