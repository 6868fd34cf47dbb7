"""Helpers for the sync tests: a built warehouse, clients on the fakes, one sync run."""

import uuid
from contextlib import contextmanager
from datetime import date
from typing import Any

import duckdb

from okendo_pipeline.lib import warehouse
from okendo_pipeline.lib.braze.client import BrazeClient, BrazeSettings
from okendo_pipeline.lib.http import RetryPolicy
from okendo_pipeline.lib.iterable.client import IterableClient, IterableSettings
from okendo_pipeline.lib.sync.codecs import braze_codec, iterable_codec
from okendo_pipeline.lib.sync.engine import BrazeSender, IterableSender, SyncReport, run_sync
from okendo_pipeline.utils import environment

AS_OF = "2026-11-01"
FAST = RetryPolicy(max_attempts=4, max_rate_limited=30, base_delay=0.01, max_delay=0.1)
ITERABLE_KEY, BRAZE_KEY = "iterable-test-key", "braze-test-key"


@contextmanager
def sender(dest: str, url: str, **settings: Any):
    if dest == "iterable":
        with IterableClient(
            ITERABLE_KEY, IterableSettings(base_url=url, retry=FAST, **settings)
        ) as client:
            yield IterableSender(client)
    else:
        with BrazeClient(
            BRAZE_KEY, BrazeSettings(rest_endpoint=url, retry=FAST, **settings)
        ) as client:
            yield BrazeSender(client)


def codec(dest: str, identity: str = "email"):
    return iterable_codec(identity) if dest == "iterable" else braze_codec(identity)


def sync(
    database: str,
    dest: str,
    url: str | None,
    *,
    dry_run: bool = False,
    backfill: str = "all",
    max_attempts: int = 10,
    **settings: Any,
) -> SyncReport:
    """One sync run of ``dest`` against the fake at ``url`` (None: dry run without a client)."""
    cutoff = environment.events_cutoff(backfill, date.fromisoformat(AS_OF))
    with warehouse.connect(database) as conn:
        kwargs = dict(
            run_id=str(uuid.uuid4()),
            events_cutoff=cutoff,
            backfill_start=backfill,
            dry_run=dry_run,
            max_attempts=max_attempts,
        )
        if url is None:
            return run_sync(conn, codec(dest), None, **kwargs)
        with sender(dest, url, **settings) as s:
            return run_sync(conn, codec(dest), s, **kwargs)


def scalar(database: str, sql: str, params: list | None = None) -> Any:
    with duckdb.connect(database, read_only=True) as conn:
        return conn.execute(sql, params or []).fetchone()[0]


def rows(database: str, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(database, read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def mart_counts(database: str) -> tuple[int, int]:
    """(profiles, events) in the marts."""
    return (
        scalar(database, "select count(*) from marts.customer_profiles"),
        scalar(database, "select count(*) from marts.customer_events"),
    )
