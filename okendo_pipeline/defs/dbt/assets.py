"""The dbt models as Dagster assets, downstream of the raw tables; dbt tests as asset checks."""

import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, dbt_assets

from okendo_pipeline.defs.common.resources import RunSettingsResource, WarehouseResource
from okendo_pipeline.defs.dbt.resources import OkendoDbtResource
from okendo_pipeline.lib import incremental, progress
from okendo_pipeline.lib.dbt_project import (
    build_target,
    dbt_project,
    ensure_manifest,
    intermediate_feeds,
    model_relations,
    project_fingerprint,
)
from okendo_pipeline.lib.sync import schema as sync_schema

ensure_manifest()
dbt_project.prepare_if_dev()


def node_count() -> int:
    """Models, seeds and data tests in the manifest: one streamed event each."""
    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"].values()
    return sum(1 for n in nodes if n["resource_type"] in ("model", "seed", "test"))


class OkendoTranslator(DagsterDbtTranslator):
    """Models are keyed ``<schema>/<name>`` (``marts/customer_profiles``), as analysts see them
    in DuckDB; sources keep the keys their ``meta.dagster.asset_key`` gives (``raw/...``)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return f"okendo_{dbt_resource_props['schema']}"


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=OkendoTranslator(),
)
def okendo_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: OkendoDbtResource,
    warehouse: WarehouseResource,
    run_settings: RunSettingsResource,
):
    """``dbt build`` of the selected models: models and their tests, streamed as events. The
    warehouse path and memory bound, the reference date and the points expiry reach dbt as its
    vars. Incremental (the customers the loads since the last build touched, without the views
    and unit tests that only a changed project could change, and without the intermediate
    models no touched resource type reaches) unless a full build is due. A
    selection of the models leaves the touched customers and the build record to a build of
    them all."""
    # The step copies an incremental build's scope itself, while dbt starts (the var tells the
    # on-run-start hook). Passed to every build, so dbt's vars, and with them its partial
    # parse, stay the same from build to build.
    dbt_vars = {**run_settings.dbt_vars(warehouse), "okendo_scope_prepared": True}
    with warehouse.connect() as conn:  # closed again before dbt opens the file
        sync_schema.ensure_schema(conn)  # the sync history views read the sync tables
        plan = incremental.plan_build(
            conn,
            run_settings.reference_date(),
            run_settings.points_expiry_months,
            requested=run_settings.full_refresh,
            project=project_fingerprint(),
            relations=model_relations(),
            feeds=intermediate_feeds(),
        )
    context.log.info(f"{'full' if plan.full_refresh else 'incremental'} build: {plan.reason}")
    if plan.left_out:
        context.log.info(
            "unchanged, left out with their tests (no touched record of the types they read): "
            + ", ".join(plan.left_out)
        )

    def prepare_scope() -> None:
        with warehouse.connect() as conn:
            incremental.prepare_scope(conn)

    events = dbt.build(
        ["build", "--vars", json.dumps(dbt_vars), *plan.dbt_args()],
        context=context,
        target_path=build_target(warehouse.database),
        prepare=None if plan.full_refresh else prepare_scope,
    )
    with progress.bar("build models and tests", node_count(), "node") as built:
        for event in events:
            built.update(1)
            yield event
    if context.is_subset:
        # Some models only (materialized from the UI): the others have not recomputed the
        # touched customers yet, so the touched rows stay for the next build of them all, and
        # this build is not recorded as one (a full build it stood for is still due).
        context.log.info("a selection of the models: the touched customers stay for the next build")
        return
    with warehouse.connect() as conn:
        incremental.finish_build(conn, plan)
