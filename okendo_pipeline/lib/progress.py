"""Progress of long work on a terminal: counts, rate and time left (tqdm).

Only on a terminal: in a log, a CI job or a daemon's run a bar would be noise, and the command
line's one summary line per step says the same once. Dagster captures a step's stdout and
stderr (its compute logs), so the command line hands over its terminal first
(``attach_terminal``): bars drawn inside a step still reach the person who started it.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from tqdm import tqdm

_terminal: TextIO | None = None


def attach_terminal() -> None:
    """Keep a handle on this process's terminal (a copy of stderr) for the bars."""
    global _terminal
    if _terminal is None and sys.stderr.isatty():
        _terminal = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)


def bar(description: str, total: float | None, unit: str = "it", *, scale: bool = False) -> tqdm:
    """A progress bar that draws nothing unless it has a terminal; use as a context manager
    and ``update(n)``."""
    out = _terminal or sys.stderr
    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        unit_scale=scale,
        file=out,
        disable=not out.isatty(),
        leave=False,
        mininterval=0.5,
    )
