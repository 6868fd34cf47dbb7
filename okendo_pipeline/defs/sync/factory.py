"""Builds one destination's sync: an external asset, a two-op job, and the sensor that runs it.

Lineage in the UI runs raw files -> dbt marts -> ``destination/<name>``. The job plans (the diff,
committed as the run's intent) then delivers (send, journal, fold); the sensor launches it when
the marts have been rebuilt by a finished run, with a run_key made of the marts'
materialization ids, so one rebuild never launches two syncs.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg

from okendo_pipeline.lib.sync.codecs import Codec
from okendo_pipeline.lib.sync.engine import Sender, SyncReport, begin_run, deliver
from okendo_pipeline.utils import environment

MARTS = (dg.AssetKey(["marts", "customer_profiles"]), dg.AssetKey(["marts", "customer_events"]))
ATTRIBUTES_MART = dg.AssetKey(["marts", "customer_profile_attributes"])
# Run-queue tags (deploy/dagster.yaml limits them): one warehouse writer, one sync per destination.
WAREHOUSE_TAG = {"okendo/warehouse": "write"}


class SyncConfig(dg.Config):
    """``dry_run``: compute and store exactly what would be sent; send nothing."""

    dry_run: bool = False


@dataclass(frozen=True)
class DestinationSpec:
    name: str  # "iterable" | "braze"
    title: str
    key_variable: str  # the API key's environment variable (its presence only is checked)
    codec: Callable[[Any], Codec]  # resource -> codec
    sender: Callable[[Any], Sender]  # the destination's client -> the engine's Sender
    uses_attributes: bool

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey(["destination", self.name])

    @property
    def job_name(self) -> str:
        return f"{self.name}_sync"


def metadata(report: SyncReport) -> dict[str, Any]:
    meta: dict[str, Any] = {
        k: v for k, v in report.as_metadata().items() if v is not None and k != "rejections"
    }
    if report.rejections:
        meta["rejections"] = dg.MetadataValue.json(report.rejections)
    if report.samples:
        meta["sample_payloads"] = dg.MetadataValue.json(report.samples)
    return meta


def build(spec: DestinationSpec) -> dg.Definitions:
    deps = [*MARTS, ATTRIBUTES_MART] if spec.uses_attributes else list(MARTS)
    asset = dg.AssetSpec(
        spec.asset_key,
        deps=deps,
        kinds={spec.name},
        group_name="destinations",
        description=f"Okendo profiles and events as acknowledged by {spec.title}; "
        f"materialized by the {spec.job_name} job.",
    )

    @dg.op(
        name=f"{spec.name}_plan",
        required_resource_keys={"warehouse", spec.name},
        description="Fold any interrupted run, then diff the marts against what "
        f"{spec.title} acknowledged; the plan is committed before anything is sent.",
    )
    def plan_op(context: dg.OpExecutionContext, config: SyncConfig) -> SyncReport:
        resource = getattr(context.resources, spec.name)
        if not resource.enabled and not config.dry_run:
            raise dg.Failure(
                description=f"{spec.title} is off: set {spec.key_variable} (or run a dry run)"
            )
        start = environment.events_backfill_start()
        with context.resources.warehouse.connect() as conn:
            report = begin_run(
                conn,
                spec.codec(resource),
                run_id=context.run_id,
                events_cutoff=environment.events_cutoff(start, environment.as_of_date()),
                backfill_start=start,
                dry_run=config.dry_run,
                max_attempts=environment.sync_max_attempts(),
                log_days=environment.sync_log_days(),
            )
        context.add_output_metadata(
            {f"plan_{k}": v for k, v in metadata(report).items() if k.startswith("plan_")}
            | {"diff_seconds": report.diff_seconds}
        )
        return report

    @dg.op(
        name=f"{spec.name}_deliver",
        required_resource_keys={"warehouse", spec.name},
        description=f"Send the plan to {spec.title} in paced batches, journal every outcome, "
        "fold it into the acknowledged state.",
    )
    def deliver_op(context: dg.OpExecutionContext, report: SyncReport) -> None:
        resource = getattr(context.resources, spec.name)
        codec = spec.codec(resource)
        with context.resources.warehouse.connect() as conn:
            if report.dry_run and not resource.enabled:
                report = deliver(conn, codec, None, report)
            else:
                with resource.client() as client:
                    report = deliver(conn, codec, spec.sender(client), report)
        meta = metadata(report)
        if report.dry_run:
            context.log_event(dg.AssetObservation(asset_key=spec.asset_key, metadata=meta))
            context.log.info(f"{spec.title} dry run: {report.plan}")
            return
        if report.status != "succeeded":
            raise dg.Failure(description=report.error or "sync failed", metadata=meta)
        context.log_event(dg.AssetMaterialization(asset_key=spec.asset_key, metadata=meta))

    @dg.job(
        name=spec.job_name,
        tags={**WAREHOUSE_TAG, "okendo/destination": spec.name},
        executor_def=dg.in_process_executor,
        description=f"Sync changed profiles and undelivered events to {spec.title}.",
    )
    def sync_job() -> None:
        deliver_op(plan_op())

    @dg.sensor(
        name=f"{spec.name}_after_marts",
        job=sync_job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Launch {spec.job_name} when the marts have been rebuilt.",
    )
    def sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        return evaluate_sensor(context, spec)

    return dg.Definitions(assets=[asset], jobs=[sync_job], sensors=[sensor])


def evaluate_sensor(
    context: dg.SensorEvaluationContext, spec: DestinationSpec
) -> dg.SensorResult | dg.SkipReason:
    """Deterministic run_key from the marts' materialization ids; skip reasons say what was seen."""
    dry_run = environment.dry_run()
    if not environment.secret_is_set(spec.key_variable) and not dry_run:
        return dg.SkipReason(f"{spec.title} is off: {spec.key_variable} is not set")
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
    run_key = f"{spec.name}:" + ":".join(str(v) for v in ids.values())
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key,
                run_config={"ops": {f"{spec.name}_plan": {"config": {"dry_run": dry_run}}}},
                tags={"okendo/marts": json.dumps(ids)},
            )
        ],
        cursor=json.dumps(ids),
    )
