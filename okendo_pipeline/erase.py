"""``okendo-pipeline erase``: the erasure job, in process, on a throwaway Dagster instance.

The job is the one the UI launches (``defs/erasure``); run here, its config (the addresses) is
never written to the instance the UI shows. The console names each address by its position
and erasure id, as the job's logs do.
"""

import warnings
from pathlib import Path
from typing import Any

import dagster as dg

from okendo_pipeline.defs.erasure.jobs import ERASURE_JOB
from okendo_pipeline.pipeline import RunOptions, _quiet, resource_config


def run(
    emails: list[str], database: Path | None, landing: Path | None, definitions: dg.Definitions
) -> int:
    """0 when every step is done, each destination included; 1 while something is left (the
    warehouse keeps it: running the command again finishes it)."""
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    config: dict[str, Any] = {
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        "ops": {"erase_records": {"config": {"emails": list(emails)}}},
        **resource_config(RunOptions(database=database, landing=landing), definitions),
    }
    job = definitions.resolve_job_def(ERASURE_JOB)
    with dg.DagsterInstance.ephemeral() as instance, _quiet(False):
        result = job.execute_in_process(run_config=config, instance=instance, raise_on_error=False)
    for line in summary(result, [d.name for d in job.nodes if d.name.startswith("erase_at_")]):
        print(line)
    return 0 if result.success else 1


def summary(result: dg.ExecuteInProcessResult, removal_nodes: list[str]) -> list[str]:
    lines = []
    records = _output(result, "erase_records")
    if records is None:
        return [f"FAILED: {_failure(result)}"]
    for n, person in enumerate(records["people"], 1):
        what = "erased" if person["known"] else "not known to the pipeline (nothing to erase)"
        lines.append(f"address {n} (erasure {person['erasure_id']}): {what}")
    lines.append(
        f"warehouse: {records['rows_deleted']:,} rows deleted in {records['tables']} tables, "
        f"{records['mentions_replaced']:,} mentions replaced; landing: "
        f"{records['landing_files_rewritten']:,} of {records['landing_files_scanned']:,} files "
        f"rewritten ({records['landing_lines_removed']:,} lines removed, "
        f"{records['landing_lines_redacted']:,} redacted)"
    )
    for node in sorted(removal_nodes):
        removal = _output(result, node)
        name = node.removeprefix("erase_at_")
        if removal is None:
            lines.append(f"{name}: FAILED: {_failure(result, node)}")
        elif not (removal["removed"] or removal["failed"] or removal["waiting"]):
            lines.append(f"{name}: nothing to remove")
        else:
            left = removal["failed"] + removal["waiting"]
            tail = f"; {left} left ({removal['reason']})" if left else ""
            lines.append(f"{name}: {removal['removed']} removed{tail}")
    finished = _output(result, "finish_erasure")
    if finished is not None:
        lines.append(
            f"analytics: published whole; warehouse file rewritten in "
            f"{finished['compact_seconds']:.1f}s"
        )
        lines.append("succeeded")
    else:
        lines.append(f"NOT FINISHED: {_failure(result, 'finish_erasure')}")
    return lines


def _output(result: dg.ExecuteInProcessResult, node: str) -> Any:
    try:
        return result.output_for_node(node)
    except Exception:  # the step failed or did not run
        return None


def _failure(result: dg.ExecuteInProcessResult, node: str | None = None) -> str:
    for event in result.get_step_failure_events():
        if node is None or event.step_key == node:
            error = event.step_failure_data.error
            return error.message.strip() if error else "failed"
    return "did not run"
