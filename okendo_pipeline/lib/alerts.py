"""Alerts to a Slack-compatible incoming webhook (``OKENDO_ALERT_WEBHOOK_URL``).

Each thing that can go wrong is a subject (``run okendo_refresh``, ``rejections braze``, ...)
that is either failing or fine. An alert goes out when a subject changes state: once when it
starts failing, once when it recovers; a run that fails again while already failing says
nothing new. The states live in a small JSON file beside the warehouse, updated under a file
lock, so the command line and the daemon (which both see a run) agree and alert once.

An alert never carries a secret or an email address: texts are built from names, counts and
error messages, and every message is scrubbed of anything shaped like an email and of the
values of the secrets in the settings before it leaves. A failing alert endpoint is logged and
never fails the run.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from okendo_pipeline.lib.http import DestinationError, HttpClient, RetryPolicy, Timeouts

log = logging.getLogger(__name__)

EMAIL = re.compile(r"[^\s@<>()\[\]{},;:\"']+@[^\s@<>()\[\]{},;:\"']+")
TIMEOUT_SECONDS = 5.0
MAX_REASON = 300


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go (None: nowhere) and what must never appear in one."""

    url: str | None
    rejected_share: float = 0.01
    secrets: tuple[str, ...] = ()


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without email addresses or secret values, cut to a readable length."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[secret]")
    text = EMAIL.sub("[email]", text)
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def state_path(database: str) -> Path:
    path = Path(database).resolve()
    return path.parent / f".{path.name}.alerts.json"


@contextmanager
def _locked_states(database: str):
    path = state_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        states = json.loads(path.read_text()) if path.exists() else {}
        yield states
        staging = path.with_suffix(".new")
        staging.write_text(json.dumps(states, indent=1, sort_keys=True))
        os.replace(staging, path)


def observe(
    settings: AlertSettings, database: str, subject: str, failing: bool, detail: str
) -> bool:
    """Record the subject's state; alert when it changed. Returns whether an alert went out
    (or was due but its endpoint failed)."""
    if not settings.url:
        return False
    with _locked_states(database) as states:
        before = states.get(subject, {}).get("failing", False)
        if before == failing:
            return False
        states[subject] = {"failing": failing, "since": datetime.now(UTC).isoformat()}
    word = "FAILING" if failing else "recovered"
    text = scrub(f"okendo-pipeline: {subject} {word}: {detail}", settings.secrets)
    send(settings.url, text)
    return True


def send(url: str, text: str) -> None:
    """POST ``{"text": ...}`` through the HTTP layer (timeouts, a few retries on 5xx and 429);
    a failure is logged without the URL, which is itself a secret."""
    client = HttpClient(
        destination="alerts",
        base_url=url,
        secret_headers={},
        timeouts=Timeouts(connect=TIMEOUT_SECONDS, read=TIMEOUT_SECONDS),
        retry=RetryPolicy(max_attempts=2, max_rate_limited=2, base_delay=0.5, max_delay=2.0),
        pool_size=1,
    )
    with client:
        try:
            client.post("", json.dumps({"text": text}).encode())
        except DestinationError as exc:
            log.warning(
                "alert not delivered: the endpoint failed (%s, status %s)",
                type(exc).__name__, exc.status,
            )  # fmt: skip


def rejections(
    rejected: int, rows: int, reasons: dict[str, int], threshold: float
) -> tuple[bool, str]:
    """(failing, detail) of one sync run's rejections: failing above ``threshold`` of its rows."""
    share = rejected / rows if rows else 0.0
    top = ", ".join(f"{r} ({n:,})" for r, n in sorted(reasons.items(), key=lambda x: -x[1])[:3])
    detail = f"{rejected:,} of {rows:,} rows rejected ({share:.1%}; the limit is {threshold:.1%})"
    return share > threshold, detail + (f"; top reasons: {top}" if top else "")
