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
def dbt_manifest() -> None:
    """Parse the dbt project once per session so definitions load with a current manifest."""
    from okendo_pipeline.lib import dbt_project

    dbt_project.prepare()


@pytest.fixture
def iterable_fake() -> Iterator[tuple[object, str]]:
    """A FakeIterable with its documented limits on, served on a loopback port: (app, url)."""
    from okendo_pipeline.lib.fakes.iterable import FakeIterable
    from okendo_pipeline.lib.fakes.server import FakeServer

    app = FakeIterable()
    with FakeServer(app) as server:
        yield app, server.url


@pytest.fixture
def braze_fake() -> Iterator[tuple[object, str]]:
    """A FakeBraze with its documented limits on, served on a loopback port: (app, url)."""
    from okendo_pipeline.lib.fakes.braze import FakeBraze
    from okendo_pipeline.lib.fakes.server import FakeServer

    app = FakeBraze()
    with FakeServer(app) as server:
        yield app, server.url
