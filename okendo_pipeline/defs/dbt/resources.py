"""The dbt CLI resource, pointed at the project in ``dbt_project/``."""

from collections.abc import Sequence
from functools import cached_property
from importlib.metadata import version as installed

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version

from okendo_pipeline.lib.dbt_project import dbt_project


class OkendoDbtResource(DbtCliResource):
    """``DbtCliResource`` without two start-up costs it pays in every run's process, about 3 s
    of each micro-batch's dbt step (dagster-dbt is pinned in pyproject.toml):

    * it learns dbt's version by running ``dbt --version`` (a second dbt process, 1.3 s); the
      version here is the installed dbt-core package's, the one whose ``dbt`` command runs;
    * it opens a dbt adapter before every command (dbt's profile, project and DuckDB plugin,
      1-2 s) only to fetch row counts and column metadata, which this project does not ask for.
      dbt itself still runs in its own process with its own adapter."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(installed("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"dbt": OkendoDbtResource(project_dir=dbt_project)})
