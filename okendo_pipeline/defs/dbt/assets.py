"""The dbt models as Dagster assets, downstream of the raw tables; dbt tests as asset checks."""

import json
import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from okendo_pipeline.lib.dbt_project import dbt_project, ensure_manifest
from okendo_pipeline.utils import environment

ensure_manifest()
dbt_project.prepare_if_dev()


class OkendoTranslator(DagsterDbtTranslator):
    """Models are keyed ``<schema>/<name>`` (``marts/customer_profiles``), as analysts see them
    in DuckDB; sources keep the keys their ``meta.dagster.asset_key`` gives (``raw/...``)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return f"okendo_{dbt_resource_props['schema']}"


def dbt_vars() -> dict[str, str]:
    """dbt vars of a run: the reference date, so builds can be replayed (CONTRACT section 2)."""
    return {
        "as_of": environment.as_of_date().isoformat(),
        "points_expiry_months": environment.points_expiry_months(),
    }


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=OkendoTranslator(),
)
def okendo_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """``dbt build`` of the selected models: models and their tests, streamed as events."""
    # dbt runs in the project folder: hand it the warehouse as an absolute path, or a relative
    # OKENDO_DUCKDB_PATH (or the default data/okendo.duckdb) would point inside dbt_project/.
    os.environ["OKENDO_DUCKDB_PATH"] = environment.duckdb_path()
    yield from dbt.cli(["build", "--vars", json.dumps(dbt_vars())], context=context).stream()
