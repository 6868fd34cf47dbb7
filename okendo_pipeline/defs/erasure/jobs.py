"""The erasure job: a person's data leaves the warehouse, the landing files, the analysts' file
and every destination (specification, "Erasure and the guard").

``okendo_erasure`` takes the addresses as op config (``emails``). Its steps: the records (landing
files first, so a crash in between still finds the lines by their text, then the warehouse in
one transaction), each destination's removals, and a last step that publishes the analysts' file
whole, rewrites the warehouse file and fails while anything is left to remove. Every step only
ever names a person by their erasure id (the start of the salted hash) in logs and outputs.

Dagster keeps a run's config, so a run launched from the UI holds the addresses in its record:
``okendo_erasure_cleanup`` deletes each erasure run once it has ended (the erasure log in the
warehouse is the record of it). ``okendo-pipeline erase`` runs the job on a throwaway instance.
"""

from pathlib import Path
from typing import Any

import dagster as dg

from okendo_pipeline import settings
from okendo_pipeline.defs.common.resources import WarehouseResource
from okendo_pipeline.defs.common.runs import WAREHOUSE_TAG
from okendo_pipeline.defs.sync.resource import DestinationResource
from okendo_pipeline.lib import analytics
from okendo_pipeline.lib.erasure import warehouse as erasure
from okendo_pipeline.lib.erasure.addresses import normalise, python_pattern
from okendo_pipeline.lib.erasure.landing import erase_landing

ERASURE_JOB = "okendo_erasure"
ID_LENGTH = 12  # of the salted hash: how a person is named in logs and the console


class ErasureConfig(dg.Config):
    """The addresses to erase (matched as ``lower(trim(email))``)."""

    emails: list[str]


def erasure_id(address_hash: str) -> str:
    return address_hash[:ID_LENGTH]


def records_step(
    emails: list[str],
    warehouse: WarehouseResource,
    landing: Path,
    destinations: dict[str, DestinationResource],
) -> dict[str, Any]:
    """Landing files, then the warehouse. Returns counts and, per address in the order given,
    its erasure id and whether the pipeline knew it: never an address."""
    try:
        keys = [normalise(e) for e in emails]
    except ValueError:
        raise dg.Failure(description="emails: one of the values is not an email address") from None
    unique = sorted(set(keys))
    pattern = python_pattern(unique)
    with warehouse.connect() as conn:
        files = erasure.loaded_files_of(conn, unique)
        found = erase_landing(landing, set(unique), pattern, files)
        erasure.record_rewritten_files(
            conn, [(r.rel, r.content_hash, *_stat(r.path), r.lines) for r in found.rewritten]
        )
        done = erasure.erase_warehouse(conn, unique, [d.codec() for d in destinations.values()])
    people = [
        {
            "erasure_id": erasure_id(done.hashes[k]),
            "known": k in done.known or k in found.keys,
        }
        for k in keys
    ]
    return {
        "people": people,
        "landing_files_scanned": found.files_scanned,
        "landing_files_rewritten": len(found.rewritten),
        "landing_lines_removed": found.lines_removed,
        "landing_lines_redacted": found.lines_redacted,
        "rows_deleted": sum(done.rows_deleted.values()),
        "tables": len(done.rows_deleted),
        "mentions_replaced": sum(done.cells_redacted.values()),
        "pending": done.pending,
    }


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def removal_step(name: str, resource: DestinationResource, warehouse: WarehouseResource) -> dict:
    """Remove every person still pending at this destination; what is acknowledged is no
    longer kept. A failed removal stays pending for the next erasure run."""
    with warehouse.connect() as conn:
        pending = erasure.pending_removals(conn, name)
    if not pending:
        return {"destination": name, "removed": 0, "failed": 0, "waiting": 0}
    if not resource.enabled:
        reason = f"{resource.title} is off ({resource.key_variable} is not set)"
        return {"destination": name, "removed": 0, "failed": 0, "waiting": len(pending),
                "reason": reason}  # fmt: skip
    people = sorted({(kind, identity) for _, kind, identity in pending})
    removed: list[tuple[str, str]] = []
    errors: list[str] = []
    for outcome in resource.remove_people(people):
        if outcome.error is None:
            removed.append((outcome.identity_kind, outcome.identity))
        else:
            errors.append(outcome.error)
    with warehouse.connect() as conn:
        erasure.removal_done(conn, name, removed)
    result: dict[str, Any] = {
        "destination": name, "removed": len(removed), "failed": len(errors), "waiting": 0,
    }  # fmt: skip
    if errors:
        result["reason"] = sorted(set(errors))[0]
    return result


def finish_step(warehouse: WarehouseResource, removals: list[dict]) -> dict[str, Any]:
    """Publish the analysts' file whole (a patched copy would keep the deleted rows in its free
    blocks), rewrite the warehouse file, and say what is still waiting."""
    with warehouse.connect() as conn:
        waiting = erasure.complete(conn)
        published = analytics.publish(conn, warehouse.analytics_path(), whole=True)
        seconds = erasure.compact(conn, warehouse.database)
    return {
        "waiting": [erasure_id(h) for h in waiting],
        "analytics_mode": published.mode,
        "compact_seconds": round(seconds, 2),
        "removals": removals,
    }


def build(names: list[str]) -> dg.Definitions:
    @dg.op(required_resource_keys={"warehouse", "landing", *names}, tags=WAREHOUSE_TAG)
    def erase_records(context: dg.OpExecutionContext, config: ErasureConfig) -> dict[str, Any]:
        """The landing files and the warehouse."""
        destinations = {n: getattr(context.resources, n) for n in names}
        report = records_step(
            config.emails,
            context.resources.warehouse,
            Path(context.resources.landing.path),
            destinations,
        )
        for n, person in enumerate(report["people"], 1):
            context.log.info(
                f"address {n} (erasure {person['erasure_id']}): "
                + ("erased" if person["known"] else "not known to the pipeline; nothing to erase")
            )
        context.add_output_metadata({k: v for k, v in report.items() if k != "people"})
        return report

    def removal_op(name: str) -> dg.OpDefinition:
        @dg.op(name=f"erase_at_{name}", required_resource_keys={"warehouse", name})
        def remove(context: dg.OpExecutionContext, records: dict[str, Any]) -> dict[str, Any]:
            result = removal_step(
                name, getattr(context.resources, name), context.resources.warehouse
            )
            context.add_output_metadata({k: v for k, v in result.items() if k != "destination"})
            return result

        return remove

    removers = [removal_op(n) for n in names]

    @dg.op(required_resource_keys={"warehouse"})
    def finish_erasure(context: dg.OpExecutionContext, removals: list[dict]) -> dict[str, Any]:
        report = finish_step(context.resources.warehouse, removals)
        context.add_output_metadata(
            {"waiting": len(report["waiting"]), "compact_seconds": report["compact_seconds"]}
        )
        left = [r for r in report["removals"] if r["waiting"] or r["failed"]]
        if left:
            raise dg.Failure(
                description="not finished: "
                + "; ".join(
                    f"{r['destination']}: {r['failed'] + r['waiting']} removals left "
                    f"({r.get('reason', '?')})"
                    for r in left
                )
                + ". Run the erasure again to finish it.",
                metadata={"erasures_waiting": len(report["waiting"])},
            )
        return report

    @dg.graph
    def erasure_graph():
        records = erase_records()
        finish_erasure([remove(records) for remove in removers])

    job = erasure_graph.to_job(
        name=ERASURE_JOB,
        tags=WAREHOUSE_TAG,
        description="Erase people by email address: warehouse, landing files, analysts' file and "
        "every destination. Config: ops: erase_records: config: emails: [...]",
    )

    @dg.run_status_sensor(
        name="okendo_erasure_cleanup",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[job],
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Deletes a finished erasure run: its config holds the addresses erased.",
    )
    def cleanup_succeeded(context: dg.RunStatusSensorContext):
        context.instance.delete_run(context.dagster_run.run_id)

    @dg.run_failure_sensor(
        name="okendo_erasure_cleanup_failed",
        monitored_jobs=[job],
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Deletes a failed erasure run (run it again to finish: the warehouse keeps "
        "what is left to do).",
    )
    def cleanup_failed(context: dg.RunFailureSensorContext):
        context.instance.delete_run(context.dagster_run.run_id)

    return dg.Definitions(jobs=[job], sensors=[cleanup_succeeded, cleanup_failed])


@dg.definitions
def defs() -> dg.Definitions:
    return build(settings.Settings.destinations())
