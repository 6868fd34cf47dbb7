"""Which Dagster instance the commands use: ``DAGSTER_HOME``, else ``.dagster_home`` in the
working folder.

Dagster's own default without ``DAGSTER_HOME`` is a throwaway instance per process, so the runs
of ``okendo-pipeline run`` would vanish and the UI opened next would show nothing. One folder per
working folder (ignored by git) makes ``run``, ``ui`` and the daemon they start share one.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_VARIABLE = "DAGSTER_HOME"
LOCAL_HOME = ".dagster_home"


def home() -> Path:
    """The instance folder, created if missing; an absolute path, as Dagster requires."""
    configured = os.environ.get(HOME_VARIABLE)
    path = Path(configured).expanduser() if configured else Path.cwd() / LOCAL_HOME
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def environment() -> dict[str, str]:
    """The environment for a Dagster process (UI, daemon) on that instance."""
    return {**os.environ, HOME_VARIABLE: str(home())}
