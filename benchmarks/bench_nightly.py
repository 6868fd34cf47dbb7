"""Benchmark: the nightly full refresh from an empty warehouse (issue item: load, full build and
a dry run of every destination), with each part's time and peak memory.

Runs ``okendo-pipeline run --full-refresh --dry-run`` over a landing folder into a new DuckDB
file in a work folder, and samples the memory of the command and of each process it starts
every 0.2 s: the largest process's resident size, and (once a second) the proportional size
of them all together (dbt builds in a child forked from the command, which shares the
command's pages; the load and the models are one phase, "refresh"). The load and the models
report their own seconds; a destination's dry run is the time between the lines the command
prints. The reference, measured in the same run: DuckDB's own ``read_json`` over the same files
(parsing every byte once, validating nothing).

    python benchmarks/bench_nightly.py --landing /tmp/m/landing --as-of 2026-11-01 --work /tmp/n
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb

STEP = re.compile(r"^(load|models): .*; ([0-9.]+)s")
DESTINATION = re.compile(r"^(\w+) \(dry run\)")


def tree_rss(root: int, proportional: bool = True) -> dict[int, tuple[int, int]]:
    """{pid: (resident bytes, proportional bytes)} for ``root`` and every process below it. The
    proportional size (PSS) shares each page among the processes mapping it, so its sum over
    the tree is what they use together: a forked child (the dbt build) shares its parent's
    pages until it writes them, and its resident size counts them again. Reading it walks each
    process's page tables, so it is read only when ``proportional`` (0 otherwise)."""
    out: dict[int, tuple[int, int]] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            for task in os.listdir(f"/proc/{pid}/task"):
                todo += [
                    int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                ]
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text() if proportional else ""
        except (FileNotFoundError, ProcessLookupError):
            continue
        out[pid] = (kilobytes(status, "VmRSS:"), kilobytes(rollup, "Pss:"))
    return out


def kilobytes(text: str, field: str) -> int:
    """A ``/proc`` field given in kB, in bytes (0 when absent)."""
    lines = (line for line in text.splitlines() if line.startswith(field))
    return next((int(line.split()[1]) * 1024 for line in lines), 0)


class Sampler(threading.Thread):
    """Peak memory per phase (the phase is whatever the caller last set): the largest single
    process's resident size, and the whole tree's proportional size."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.phase = pid, "refresh"
        self.peaks: dict[str, int] = {}
        self.totals: dict[str, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        tick = 0
        while not self.stop.wait(0.2):
            # The tree's PSS once a second: read every 0.2 s, one run's load took 89.5 s (83.5 s).
            sizes = tree_rss(self.pid, proportional=tick % 5 == 0).values()
            tick += 1
            largest = max((rss for rss, _ in sizes), default=0)
            total = sum(pss for _, pss in sizes)
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), largest)
            self.totals[self.phase] = max(self.totals.get(self.phase, 0), total)


def reference_read(landing: Path) -> float:
    files = sorted(str(p) for p in landing.glob("*/*.jsonl*"))
    conn = duckdb.connect()
    started = time.perf_counter()
    conn.execute(
        "select count(*) from read_json(?, format = 'newline_delimited', records = false, "
        "columns = {'json': 'JSON'}, ignore_errors = true, maximum_object_size = 16777216)",
        [files],
    ).fetchall()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--work", type=Path, required=True, help="emptied first")
    args = parser.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(args.work / "dagster"),
        "OKENDO_ANALYTICS_PATH": str(args.work / "okendo_analytics.duckdb"),
    }
    env.pop("ITERABLE_API_KEY", None)
    env.pop("BRAZE_API_KEY", None)
    (args.work / "dagster").mkdir()
    command = [
        "okendo-pipeline", "run", "--full-refresh", "--dry-run", "--landing", str(args.landing),
        "--database", str(args.work / "okendo.duckdb"), "--as-of", args.as_of,
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    sampler = Sampler(proc.pid)
    sampler.start()
    parts: dict[str, float] = {}
    mark = None
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.perf_counter()
        print(line, end="")
        if m := STEP.match(line):
            parts[m.group(1)] = float(m.group(2))
        elif m := DESTINATION.match(line):
            parts[f"dry run, {m.group(1)}"] = now - mark if mark else float("nan")
        if line.startswith(("models:", "braze", "iterable")):
            mark = now
            sampler.phase = "dry runs and publish"
    proc.wait()
    total = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    if proc.returncode != 0:
        print(f"the run failed (rc {proc.returncode})")
        return 1
    reference = reference_read(args.landing)
    print(f"\n{'part':28s} {'seconds':>8s}")
    for name, seconds in parts.items():
        print(f"{name:28s} {seconds:8.1f}")
    print(f"{'whole command':28s} {total:8.1f}  (bar: 240 s; load bar: 90 s)")
    ratio = parts.get("load", 0) / reference
    print(f"{'reference: read_json':28s} {reference:8.1f}  (load / reference: {ratio:.0f}x)")
    print(f"\n{'peak memory, GB':28s} {'process':>8s} {'all':>8s}  (largest RSS; sum of PSS)")
    for phase, rss in sampler.peaks.items():
        print(f"{phase:28s} {rss / 1e9:8.2f} {sampler.totals[phase] / 1e9:8.2f}")
    size = (args.work / "okendo.duckdb").stat().st_size
    print(f"{'warehouse file':28s} {size / 1e9:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
