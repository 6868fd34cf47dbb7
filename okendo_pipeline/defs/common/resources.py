"""Resources shared by every system: the DuckDB warehouse."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from okendo_pipeline.lib import warehouse
from okendo_pipeline.utils import environment


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB file analysts query and every step writes (``OKENDO_DUCKDB_PATH``)."""

    database: str
    memory_limit: str = warehouse.DEFAULT_MEMORY_LIMIT
    threads: int | None = None

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(
            self.database, memory_limit=self.memory_limit, threads=self.threads
        ) as conn:
            yield conn


class LandingResource(dg.ConfigurableResource):
    """The landing folder of envelope files (``OKENDO_LANDING_DIR``)."""

    path: str


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(database=environment.duckdb_path()),
            "landing": LandingResource(path=environment.landing_dir()),
        }
    )
