"""The Okendo Enterprise API extractor: reviews (``GET /reviews``) into landing files.

The API lists reviews per ``status`` (approved by default), newest first, 100 a page, with a
relative ``nextUrl``; it has no "changed since" filter. So each status is read from the newest
review down to its watermark (the newest ``dateCreated`` of the last complete pass) minus an
overlap window, and stops there: reviews that appear late (moderated, indexed late) within the
window are still caught, and a second copy of one already loaded is harmless (same id: the
newest sequence number wins in ingestion). The watermark of a status moves only after its pass
completed and the file holding it was published; a failed run publishes what it read and leaves
the watermark, so the next run reads the gap again.

Each extraction is one landing file ``review/okendo-api-<UTC>.jsonl``, written beside the
landing folder and published by an atomic rename. Envelopes carry topic ``update`` and a
sequence number from the extraction time in microseconds, so a later snapshot of a review
supersedes an earlier one.
"""

import base64
import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from okendo_pipeline.lib.http import HttpClient, RetryPolicy, Timeouts, TokenBucket
from okendo_pipeline.lib.okendo.contract.rules import ENVELOPE_VERSION

log = logging.getLogger(__name__)

BASE_URL = "https://api.okendo.io/enterprise"
RATE_LIMIT_PER_SECOND = 2.0
PAGE_LIMIT = 100
STATUSES = ("approved", "pending", "rejected")


class OkendoApiClient:
    """HTTP Basic (Okendo user id, API key), paced under 2 requests per second."""

    def __init__(
        self,
        user: str,
        key: str,
        base_url: str = BASE_URL,
        *,
        rate_fraction: float | None = 0.9,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        token = base64.b64encode(f"{user}:{key}".encode()).decode()
        self.http = HttpClient(
            destination="okendo",
            base_url=base_url,
            secret_headers={"Authorization": f"Basic {token}"},
            retry=retry or RetryPolicy(),
            timeouts=timeouts or Timeouts(),
        )
        self.pacer = TokenBucket(RATE_LIMIT_PER_SECOND * rate_fraction if rate_fraction else None)
        self.requests = 0

    def __enter__(self) -> "OkendoApiClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def review_pages(self, status: str) -> Iterator[list[dict[str, Any]]]:
        """Pages of reviews of one status, newest first."""
        path: str | None = f"/reviews?limit={PAGE_LIMIT}&orderBy=date%20desc&status={status}"
        while path:
            resp = self.http.get(path, pacer=self.pacer)
            self.requests += resp.attempts
            body = resp.json() or {}
            yield body.get("reviews") or []
            path = body.get("nextUrl")


def review_resource(api: dict[str, Any]) -> dict[str, Any]:
    """An API review as the landing ``review`` resource: media become ``{type, url}`` (the
    full-size URL), every other field is kept as the API gave it."""
    out = dict(api)
    media = api.get("media")
    if isinstance(media, list):
        out["media"] = [
            {**m, "type": m.get("type"), "url": m.get("fullSizeUrl") or m.get("url")}
            for m in media
            if isinstance(m, dict)
        ]
    return out


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class ExtractReport:
    reviews: int = 0
    requests: int = 0
    file: str | None = None
    watermarks: dict[str, str] = field(default_factory=dict)
    failed_status: str | None = None
    error: str | None = None


class StateFile:
    """The extractor's watermarks, kept beside the landing files they describe."""

    def __init__(self, landing: Path) -> None:
        self.path = landing / ".okendo_api" / "state.json"

    def load(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def save(self, state: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as fh:
            json.dump(state, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def extract_reviews(
    client: OkendoApiClient, landing: Path, *, overlap: timedelta, now: datetime | None = None
) -> ExtractReport:
    """One extraction run; raises after publishing what it read if a page could not be read."""
    now = now or datetime.now(UTC)
    state_file = StateFile(landing)
    state = state_file.load()
    report = ExtractReport(watermarks=dict(state))
    sequence = str(int(now.timestamp() * 1_000_000))
    staging = landing / ".okendo_api"
    staging.mkdir(parents=True, exist_ok=True)
    part = staging / f"reviews-{uuid.uuid4().hex}.jsonl.part"
    completed: dict[str, str] = {}
    try:
        with part.open("w", encoding="utf-8") as fh:
            for status in STATUSES:
                report.failed_status = status
                mark = state.get(f"reviews.{status}")
                stop_before = parse_time(mark) - overlap if mark else None
                newest = mark
                for page in client.review_pages(status):
                    reached = False
                    for review in page:
                        created = review.get("dateCreated")
                        if stop_before and created and parse_time(created) < stop_before:
                            reached = True
                            break
                        envelope = {
                            "resourceType": "review",
                            "topic": "update",
                            "sequenceNumber": sequence,
                            "version": ENVELOPE_VERSION,
                            "resource": review_resource(review),
                        }
                        fh.write(json.dumps(envelope, ensure_ascii=False) + "\n")
                        report.reviews += 1
                        if created and (newest is None or parse_time(created) > parse_time(newest)):
                            newest = created
                    if reached:
                        break
                if newest:
                    completed[f"reviews.{status}"] = newest
            report.failed_status = None
            fh.flush()
            os.fsync(fh.fileno())
    except Exception as exc:
        report.error = str(exc)
        raise
    finally:
        report.requests = client.requests
        report.file = _publish(part, landing, now) if report.reviews else None
        if not report.reviews:
            part.unlink(missing_ok=True)
        # Only the statuses whose pass completed move; a failed one is read again next time.
        state.update(completed)
        state_file.save(state)
        report.watermarks = dict(state)
    return report


def _publish(part: Path, landing: Path, now: datetime) -> str:
    with part.open("rb") as fh:
        os.fsync(fh.fileno())
    folder = landing / "review"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"okendo-api-{now:%Y%m%dT%H%M%S}-{part.stem.split('-')[1][:8]}.jsonl"
    os.replace(part, target)
    return f"review/{target.name}"
