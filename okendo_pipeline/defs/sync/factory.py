"""Builds one destination's sync: its resource, an asset, a job, a sensor.

Lineage in the UI runs raw files -> dbt marts -> ``destination/<name>``. The asset is a graph of
two ops: plan (the diff, committed as the run's intent), then deliver (send, journal, fold);
it materializes when a real sync succeeded (a dry run records an observation). The
``<name>_sync`` job runs it alone; the landing sensor's micro-batch runs it right after the
marts, in the same run. The sensor launches the job when the marts were rebuilt by a finished
run that did not sync this destination itself (the nightly refresh, a rebuild from the UI),
with a run_key made of the marts' materialization ids, so one rebuild never launches two
syncs. Nothing here names a vendor: the destination's resource provides its codec and sender.
"""

import json
from typing import Any

import dagster as dg

from okendo_pipeline import settings
from okendo_pipeline.defs.analytics.assets import ANALYTICS
from okendo_pipeline.defs.common.resources import RunSettingsResource, WarehouseResource
from okendo_pipeline.defs.common.runs import SYNCED_TAG, WAREHOUSE_TAG, warehouse_writer
from okendo_pipeline.defs.sync.resource import DestinationResource
from okendo_pipeline.lib import alerts
from okendo_pipeline.lib.sync.plan import changed_field_counts
from okendo_pipeline.lib.sync.report import SyncReport
from okendo_pipeline.lib.sync.run import begin_run, deliver

MARTS = (dg.AssetKey(["marts", "customer_profiles"]), dg.AssetKey(["marts", "customer_events"]))
ATTRIBUTES_MART = dg.AssetKey(["marts", "customer_profile_attributes"])
# Run-queue tag (deploy/dagster.yaml limits it): one sync per destination.
DESTINATION_TAG = "okendo/destination"
GUARD_CHECK = "guard"


def asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["destination", name])


def job_name(name: str) -> str:
    return f"{name}_sync"


def graph_name(name: str) -> str:
    return f"destination_{name}"


def op_handle(name: str, step: str) -> str:
    """The handle of a destination's ``plan`` or ``deliver`` op, for a run's results."""
    return f"{graph_name(name)}.{name}_{step}"


def fields_table(fields: list[tuple[str, int]]) -> dg.TableMetadataValue:
    """The plan's changed fields as a table in the UI: each field and how many profiles send it."""
    return dg.MetadataValue.table(
        records=[dg.TableRecord({"field": f, "profiles": n}) for f, n in fields],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("field", "string", description="profile property"),
                dg.TableColumn("profiles", "int", description="profiles that send it"),
            ]
        ),
    )


def metadata(report: SyncReport) -> dict[str, Any]:
    meta: dict[str, Any] = dict(report.as_metadata())
    if report.rejections:
        meta["rejections"] = dg.MetadataValue.json(dict(report.rejections))
    if report.samples:
        # Where the payloads are, not the payloads: they carry emails and names, and Dagster
        # keeps run metadata where an erasure cannot reach it.
        meta["payloads"] = dg.MetadataValue.md(
            f"{len(report.samples)} samples in `sync.outbox_payloads` (run_id "
            f"`{report.run_id}`); every payload of the plan: `okendo-pipeline payloads "
            f"--destination {report.destination}`"
        )
    return meta


def plan_step(
    resource: DestinationResource,
    warehouse: WarehouseResource,
    run_settings: RunSettingsResource,
    run_id: str,
) -> SyncReport:
    """The plan op's work: fold any interrupted run, diff, commit the plan."""
    if not resource.enabled and not run_settings.dry_run:
        raise dg.Failure(
            description=f"{resource.title} is off: set {resource.key_variable} (or run a dry run)"
        )
    codec = resource.codec()
    with warehouse.connect() as conn:
        return begin_run(conn, codec, run_id, run_settings.sync_settings(codec.name))


def deliver_step(
    resource: DestinationResource, warehouse: WarehouseResource, report: SyncReport
) -> SyncReport:
    """The deliver op's work: send (or store, in a dry run), journal, fold; then the
    rejection alert's state, from what the destination said."""
    codec = resource.codec()
    with warehouse.connect() as conn:
        if report.dry_run and not resource.enabled:
            return deliver(conn, codec, None, report)
        with resource.sender() as sender:
            report = deliver(conn, codec, sender, report)
    if report.dry_run:
        return report
    alert_settings = settings.load().alerts()
    held = f"sync held by the guard at {report.destination}"
    if report.status == "held":
        detail = f"{report.plan.held_reason}; nothing sent. {approve_hint(report.destination)}"
        alerts.observe(alert_settings, warehouse.database, held, True, detail)
    elif report.status == "succeeded":
        how = "approved" if report.settings.approved else "within the guard's limit"
        alerts.observe(alert_settings, warehouse.database, held, False, f"the plan was {how}")
        failing, detail = alerts.rejections(
            report.profiles_rejected + report.events_rejected,
            sum(report.outcomes.values()),
            dict(report.rejections),
            alert_settings.rejected_share,
        )
        subject = f"rejections at {report.destination}"
        alerts.observe(alert_settings, warehouse.database, subject, failing, detail)
    return report


def approve_hint(name: str) -> str:
    return (
        f"Review it (okendo-pipeline status), then send it with okendo-pipeline run --approve "
        f"{name}, or launch {job_name(name)} with run_settings' approve: [{name}]"
    )


def guard_result(key: dg.AssetKey, report: SyncReport, fields: list[tuple[str, int]]):
    """The guard's verdict as an asset check: failing while a plan is held."""
    p = report.plan
    if not p.guarded:
        why = "approved" if report.settings.approved else "first sync: nothing acknowledged yet"
        return dg.AssetCheckResult(
            asset_key=key, check_name=GUARD_CHECK, passed=True, metadata={"not_guarded": why}
        )
    share = p.guard_changed / p.guard_acknowledged if p.guard_acknowledged else 0.0
    meta: dict[str, Any] = {
        "acknowledged_profiles": p.guard_acknowledged,
        "changed_profiles": p.guard_changed,
        "changed_share": round(share, 4),
        "max_change_share": report.settings.max_change_share,
        "most_changed_fields": fields_table(fields[:10]),
    }
    if p.held_reason:
        meta["held_reason"] = p.held_reason
        meta["to_send_it"] = approve_hint(report.destination)
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=GUARD_CHECK,
        passed=p.held_reason is None,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=meta,
        description=("dry run: would be held" if report.dry_run else "held")
        if p.held_reason
        else "within the limit",
    )


def build(name: str, resource: DestinationResource, *, uses_attributes: bool) -> dg.Definitions:
    """Everything one destination contributes, from its resource."""
    title, key = resource.title, asset_key(name)
    marts = [*MARTS, ATTRIBUTES_MART] if uses_attributes else list(MARTS)
    inputs = {f"mart_{n}": k for n, k in enumerate(marts)}  # ordering only: no value

    @dg.op(
        name=f"{name}_plan",
        ins={i: dg.In(dg.Nothing) for i in inputs},
        required_resource_keys={"warehouse", "run_settings", name},
        description="Fold any interrupted run, then diff the marts against what "
        f"{title} acknowledged; the plan is committed before anything is sent.",
    )
    def plan_op(context: dg.OpExecutionContext) -> SyncReport:
        report = plan_step(
            getattr(context.resources, name),
            context.resources.warehouse,
            context.resources.run_settings,
            context.run_id,
        )
        warehouse: WarehouseResource = context.resources.warehouse
        with warehouse.connect() as conn:
            fields = changed_field_counts(conn, context.run_id, name)
        context.add_output_metadata(
            {k: v for k, v in report.as_metadata().items() if k.startswith("plan_")}
            | {
                "diff_seconds": round(report.diff_seconds, 2),
                "plan_changed_fields": fields_table(fields),
            }
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
        if not report.dry_run and report.status not in ("succeeded", "held"):
            raise dg.Failure(description=report.error or "sync failed", metadata=metadata(report))
        return report

    check = dg.AssetCheckSpec(
        GUARD_CHECK,
        asset=key,
        description=f"The blast-radius guard: fails while a plan that would change more than "
        f"OKENDO_SYNC_MAX_CHANGE_SHARE of what {title} acknowledged is held.",
    )
    check_output = check.get_python_identifier()

    @dg.op(
        name=f"{name}_record",
        required_resource_keys={"warehouse"},
        out={
            "acknowledged": dg.Out(dg.Nothing, is_required=False),
            check_output: dg.Out(dg.Nothing, is_required=False),
        },
        description=f"Materialize destination/{name} with the sync's counts and evaluate the "
        "guard's check; a dry run or a held plan, which changed nothing there, is an "
        "observation instead.",
    )
    def record_op(context: dg.OpExecutionContext, report: SyncReport):
        warehouse: WarehouseResource = context.resources.warehouse
        with warehouse.connect() as conn:
            fields = changed_field_counts(conn, context.run_id, name)
        yield guard_result(key, report, fields)
        if report.dry_run or report.status == "held":
            context.log_event(dg.AssetObservation(asset_key=key, metadata=metadata(report)))
        else:
            yield dg.Output(None, output_name="acknowledged", metadata=metadata(report))

    @dg.graph(
        name=graph_name(name),
        ins={i: dg.GraphIn() for i in inputs},
        out={"acknowledged": dg.GraphOut(), check_output: dg.GraphOut()},
    )
    def graph(**upstream):
        acknowledged, checked = record_op(deliver_op(plan_op(**upstream)))
        return {"acknowledged": acknowledged, check_output: checked}

    destination = dg.AssetsDefinition.from_graph(
        graph,
        keys_by_input_name=inputs,
        keys_by_output_name={"acknowledged": key},
        group_name="destinations",
        descriptions_by_output_name={
            "acknowledged": f"Okendo profiles and events as acknowledged by {title}."
        },
        check_specs=[check],
    )

    sync_job = dg.define_asset_job(
        job_name(name),
        selection=[key, ANALYTICS],
        tags={**WAREHOUSE_TAG, DESTINATION_TAG: name},
        executor_def=dg.in_process_executor,
        description=f"Sync changed profiles and undelivered events to {title}.",
    )

    @dg.sensor(
        name=f"{name}_after_marts",
        job=sync_job,
        minimum_interval_seconds=5,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Launch {job_name(name)} when the marts have been rebuilt by a run "
        "that did not sync this destination.",
    )
    def sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        return evaluate_sensor(context, name, resource, dry_run=settings.load().dry_run)

    return dg.Definitions(
        assets=[destination], jobs=[sync_job], sensors=[sensor], resources={name: resource}
    )


def synced_by(run: dg.DagsterRun | None, name: str) -> bool:
    """The run synced destination ``name`` itself (a micro-batch tags the ones it syncs)."""
    return run is not None and name in run.tags.get(SYNCED_TAG, "").split(",")


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
    runs = {}
    for key, record in latest.items():
        assert record is not None
        run_id = record.event_log_entry.run_id
        run = runs[key] = context.instance.get_run_by_id(run_id) if run_id else None
        if run is not None and not run.is_finished:
            return dg.SkipReason(
                f"{key.to_user_string()} is being rebuilt by run {run_id}; waiting for it to finish"
            )
    if all(synced_by(run, name) for run in runs.values()):
        return dg.SensorResult(
            skip_reason=f"the run that rebuilt the marts synced {name} too",
            cursor=json.dumps(ids),
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
                tags={"okendo/marts": json.dumps(ids)},
            )
        ],
        cursor=json.dumps(ids),
    )
