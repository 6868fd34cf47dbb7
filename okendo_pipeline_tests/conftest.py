from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path


@pytest.fixture
def warehouse_path(tmp_path: Path) -> str:
    return str(tmp_path / "warehouse" / "okendo.duckdb")


@pytest.fixture
def conn(warehouse_path: str) -> Iterator[duckdb.DuckDBPyConnection]:
    from okendo_pipeline.lib import warehouse

    with warehouse.connect(warehouse_path) as connection:
        yield connection


@pytest.fixture(scope="session", autouse=True)
def analytics_for_the_session(tmp_path_factory) -> Iterator[None]:
    """Runs publish the analysts' file; never into the checkout's data/ folder."""
    mp = pytest.MonkeyPatch()
    mp.setenv("OKENDO_ANALYTICS_PATH", str(tmp_path_factory.mktemp("analytics") / "a.duckdb"))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def analytics_for_the_test(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "analytics" / "okendo_analytics.duckdb"
    monkeypatch.setenv("OKENDO_ANALYTICS_PATH", str(path))
    # And the commands' Dagster instance: the test's, not .dagster_home in the checkout.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return path


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """Settings are read once per process; tests change the environment, so each starts with
    them unread."""
    from okendo_pipeline import settings

    settings.load.cache_clear()
    yield
    settings.load.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> None:
    """Parse the dbt project once per session so definitions load with a current manifest."""
    from okendo_pipeline.lib import dbt_project

    dbt_project.prepare()


@pytest.fixture
def iterable_fake() -> Iterator[tuple[object, str]]:
    """A FakeIterable with its documented limits on, served on a loopback port: (app, url)."""
    from okendo_fakes.iterable import FakeIterable
    from okendo_fakes.server import FakeServer

    app = FakeIterable()
    with FakeServer(app) as server:
        yield app, server.url


@pytest.fixture
def braze_fake() -> Iterator[tuple[object, str]]:
    """A FakeBraze with its documented limits on, served on a loopback port: (app, url)."""
    from okendo_fakes.braze import FakeBraze
    from okendo_fakes.server import FakeServer

    app = FakeBraze()
    with FakeServer(app) as server:
        yield app, server.url


# -- sync: a warehouse built from a generated landing folder, and both fakes -------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[Path, Path]:
    """A generated landing folder and the warehouse built from it, once per module."""
    from datetime import date

    from okendo_pipeline.lib.okendo.generator.generate import generate
    from okendo_pipeline_tests.runs import run_refresh
    from okendo_pipeline_tests.syncing import AS_OF

    root = tmp_path_factory.mktemp("sync-base")
    generate(root / "landing", 150, seed=7, as_of=date.fromisoformat(AS_OF))
    result = run_refresh(root / "landing", root / "okendo.duckdb", AS_OF)
    assert result.success
    return root / "landing", root / "okendo.duckdb"


@pytest.fixture
def built(base, tmp_path) -> tuple[Path, str]:
    """A copy of ``base`` for one test to change."""
    import shutil

    landing, db = base
    shutil.copytree(landing, tmp_path / "landing")
    shutil.copy(db, tmp_path / "okendo.duckdb")
    return tmp_path / "landing", str(tmp_path / "okendo.duckdb")


@pytest.fixture
def fakes():
    """Both fakes, recording request bodies: {"iterable": (app, url), "braze": (app, url)}."""
    from okendo_fakes.braze import FakeBraze
    from okendo_fakes.iterable import FakeIterable
    from okendo_fakes.server import FakeServer

    iterable, braze = FakeIterable(record_bodies=True), FakeBraze(record_bodies=True)
    with FakeServer(iterable) as si, FakeServer(braze) as sb:
        yield {"iterable": (iterable, si.url), "braze": (braze, sb.url)}


@pytest.fixture
def slack():
    """An alert endpoint that keeps what it is sent (``.texts()``)."""
    from okendo_pipeline_tests.slack import Slack

    endpoint = Slack()
    yield endpoint
    endpoint.server.shutdown()
