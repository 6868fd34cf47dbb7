"""Builds one destination's sync: its resource, an external asset, a two-op job, a sensor.

Lineage in the UI runs raw files -> dbt marts -> ``destination/<name>``. The job plans (the diff,
committed as the run's intent) then delivers (send, journal, fold); the sensor launches it when
the marts have been rebuilt by a finished run, with a run_key made of the marts'
materialization ids, so one rebuild never launches two syncs. Nothing here names a vendor: the
destination's resource provides its codec and sender.
"""

import json
from typing import Any

import dagster as dg

from okendo_pipeline import settings
from okendo_pipeline.defs.common.resources import RunSettingsResource, WarehouseResource
from okendo_pipeline.defs.common.runs import WAREHOUSE_TAG, warehouse_writer
from okendo_pipeline.defs.sync.resource import DestinationResource
from okendo_pipeline.lib.sync.report import SyncReport
from okendo_pipeline.lib.sync.run import begin_run, deliver

MARTS = (dg.AssetKey(["marts", "customer_profiles"]), dg.AssetKey(["marts", "customer_events"]))
ATTRIBUTES_MART = dg.AssetKey(["marts", "customer_profile_attributes"])
# Run-queue tag (deploy/dagster.yaml limits it): one sync per destination.
DESTINATION_TAG = "okendo/destination"


class SyncConfig(dg.Config):
    """``dry_run``: compute and store exactly what would be sent; send nothing."""

    dry_run: bool = False


def asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["destination", name])


def job_name(name: str) -> str:
    return f"{name}_sync"


def metadata(report: SyncReport) -> dict[str, Any]:
    meta: dict[str, Any] = dict(report.as_metadata())
    if report.rejections:
        meta["rejections"] = dg.MetadataValue.json(dict(report.rejections))
    if report.samples:
        meta["sample_payloads"] = dg.MetadataValue.json(report.samples)
    return meta


def plan_step(
    resource: DestinationResource,
    warehouse: WarehouseResource,
    run_settings: RunSettingsResource,
    run_id: str,
    dry_run: bool,
) -> SyncReport:
    """The plan op's work: fold any interrupted run, diff, commit the plan."""
    if not resource.enabled and not dry_run:
        raise dg.Failure(
            description=f"{resource.title} is off: set {resource.key_variable} (or run a dry run)"
        )
    with warehouse.connect() as conn:
        return begin_run(
            conn, resource.codec(), run_id, run_settings.sync_settings(dry_run=dry_run)
        )


def deliver_step(
    resource: DestinationResource, warehouse: WarehouseResource, report: SyncReport
) -> SyncReport:
    """The deliver op's work: send (or store, in a dry run), journal, fold."""
    codec = resource.codec()
    with warehouse.connect() as conn:
        if report.dry_run and not resource.enabled:
            return deliver(conn, codec, None, report)
        with resource.sender() as sender:
            return deliver(conn, codec, sender, report)


def build(name: str, resource: DestinationResource, *, uses_attributes: bool) -> dg.Definitions:
    """Everything one destination contributes, from its resource."""
    title, key = resource.title, asset_key(name)
    deps = [*MARTS, ATTRIBUTES_MART] if uses_attributes else list(MARTS)
    asset = dg.AssetSpec(
        key,
        deps=deps,
        kinds={name},
        group_name="destinations",
        description=f"Okendo profiles and events as acknowledged by {title}; "
        f"materialized by the {job_name(name)} job.",
    )

    @dg.op(
        name=f"{name}_plan",
        required_resource_keys={"warehouse", "run_settings", name},
        description="Fold any interrupted run, then diff the marts against what "
        f"{title} acknowledged; the plan is committed before anything is sent.",
    )
    def plan_op(context: dg.OpExecutionContext, config: SyncConfig) -> SyncReport:
        report = plan_step(
            getattr(context.resources, name),
            context.resources.warehouse,
            context.resources.run_settings,
            context.run_id,
            config.dry_run,
        )
        context.add_output_metadata(
            {k: v for k, v in report.as_metadata().items() if k.startswith("plan_")}
            | {"diff_seconds": round(report.diff_seconds, 2)}
        )
        return report

    @dg.op(
        name=f"{name}_deliver",
        required_resource_keys={"warehouse", name},
        description=f"Send the plan to {title} in paced batches, journal every outcome, "
        "fold it into the acknowledged state.",
    )
    def deliver_op(context: dg.OpExecutionContext, report: SyncReport) -> SyncReport:
        report = deliver_step(getattr(context.resources, name), context.resources.warehouse, report)
        meta = metadata(report)
        if report.dry_run:
            context.log_event(dg.AssetObservation(asset_key=key, metadata=meta))
            return report
        if report.status != "succeeded":
            raise dg.Failure(description=report.error or "sync failed", metadata=meta)
        context.log_event(dg.AssetMaterialization(asset_key=key, metadata=meta))
        return report

    @dg.job(
        name=job_name(name),
        tags={**WAREHOUSE_TAG, DESTINATION_TAG: name},
        executor_def=dg.in_process_executor,
        description=f"Sync changed profiles and undelivered events to {title}.",
    )
    def sync_job() -> None:
        deliver_op(plan_op())

    @dg.sensor(
        name=f"{name}_after_marts",
        job=sync_job,
        minimum_interval_seconds=5,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Launch {job_name(name)} when the marts have been rebuilt.",
    )
    def sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        return evaluate_sensor(context, name, resource, dry_run=settings.load().dry_run)

    return dg.Definitions(
        assets=[asset], jobs=[sync_job], sensors=[sensor], resources={name: resource}
    )


def evaluate_sensor(
    context: dg.SensorEvaluationContext,
    name: str,
    resource: DestinationResource,
    *,
    dry_run: bool,
) -> dg.SensorResult | dg.SkipReason:
    """Deterministic run_key from the marts' materialization ids; skip reasons say what was seen."""
    if not resource.enabled and not dry_run:
        return dg.SkipReason(f"{resource.title} is off: {resource.key_variable} is not set")
    latest = {}
    for key in MARTS:
        records = context.instance.fetch_materializations(key, limit=1).records
        latest[key] = records[0] if records else None
    missing = [k.to_user_string() for k, r in latest.items() if r is None]
    if missing:
        return dg.SkipReason(f"waiting for {', '.join(missing)} to be materialized a first time")
    ids = {k.to_user_string(): r.storage_id for k, r in latest.items() if r is not None}
    seen = json.loads(context.cursor) if context.cursor else {}
    if seen == ids:
        return dg.SkipReason(f"marts unchanged since the last launch (materializations {ids})")
    for key, record in latest.items():
        assert record is not None
        run_id = record.event_log_entry.run_id
        run = context.instance.get_run_by_id(run_id) if run_id else None
        if run is not None and not run.is_finished:
            return dg.SkipReason(
                f"{key.to_user_string()} is being rebuilt by run {run_id}; waiting for it to finish"
            )
    writer = warehouse_writer(context.instance)
    if writer is not None:
        return dg.SkipReason(
            f"run {writer.run_id} ({writer.job_name}) is writing the warehouse; waiting for it"
        )
    run_key = f"{name}:" + ":".join(str(v) for v in ids.values())
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key,
                run_config={"ops": {f"{name}_plan": {"config": {"dry_run": dry_run}}}},
                tags={"okendo/marts": json.dumps(ids)},
            )
        ],
        cursor=json.dumps(ids),
    )
