"""The dbt resource: dagster-dbt's, with builds run by dbt's Python API in the step's process."""

import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource
from dagster_dbt.asset_utils import (
    extract_runtime_selection_from_args,
    get_updated_cli_invocation_params_for_context,
)
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

from okendo_pipeline.lib.dbt_project import dbt_project

# dbt's events for a finished node, which dagster-dbt turns into outputs and check results.
RESULT_EVENTS = frozenset({"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"})


class DbtBuildError(Exception):
    """A dbt command that did not succeed: its errors, as dbt reported them."""


class OkendoDbtResource(DbtCliResource):
    """dagster-dbt's resource (project, profiles, and ``cli`` for commands run by hand), whose
    ``build`` runs dbt in the step's own process through dbt's programmatic API (``dbtRunner``).

    ``cli`` starts a new ``dbt`` process per command: a new Python, the import of dbt and its
    adapter (about 2.5 s), then dagster-dbt's ``dbt --version`` and its adapter for metadata
    this project does not fetch, before any SQL; that was most of a micro-batch's dbt step.
    Here the step imports dbt once (about 1 s) and reads dbt's events as they happen."""

    def build(
        self,
        args: Sequence[str],
        *,
        context: dg.AssetExecutionContext,
        target_path: Path,
    ) -> Iterator[dg.Output | dg.AssetCheckResult | dg.AssetObservation]:
        """``dbt <args>`` for the assets ``context`` selects, yielding each node's Dagster
        events as it finishes; raises ``DbtBuildError`` after the last if dbt failed. dbt
        runs in a thread of this process, the events come back through a queue."""
        from dbt.cli.main import dbtRunner  # about 1 s: paid by the step that builds
        from dbt_common.events.functions import msg_to_dict

        cleaned, selects, excludes = extract_runtime_selection_from_args(list(args))
        params = get_updated_cli_invocation_params_for_context(
            context=context,
            manifest={},
            dagster_dbt_translator=DagsterDbtTranslator(),
            runtime_selects=selects,
            runtime_excludes=excludes,
        )
        indirect = params.indirect_selection
        argv = [
            *cleaned,
            *params.selection_args,
            *(["--indirect-selection", indirect] if indirect else []),
            *("--project-dir", self.project_dir),
            *("--profiles-dir", self.profiles_dir or self.project_dir),
            *("--target-path", str(target_path), "--log-path", str(target_path)),
            "--no-use-colors",  # plain text in logs and failure messages
        ]
        finished: queue.SimpleQueue[dict | None] = queue.SimpleQueue()
        errors: list[str] = []

        def on_event(msg) -> None:  # called on dbt's threads
            if msg.info.name in RESULT_EVENTS:
                finished.put(msg_to_dict(msg))
            elif msg.info.level == "error":
                errors.append(msg.info.msg)

        outcome: dict[str, object] = {}

        def run() -> None:
            try:
                outcome["result"] = dbtRunner(callbacks=[on_event]).invoke(argv)
            except BaseException as error:  # dbtRunner returns what it catches; not all
                outcome["error"] = error
            finally:
                try:
                    _release_warehouse()
                finally:
                    finished.put(None)  # the step stops waiting whatever happened

        # A daemon thread: a run stopped from the UI ends its process without waiting for dbt.
        threading.Thread(target=run, name="dbt build", daemon=True).start()
        while (raw := finished.get()) is not None:
            event = DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={})
            yield from event.to_default_asset_events(
                manifest=params.manifest,
                dagster_dbt_translator=params.dagster_dbt_translator,
                context=context,
                target_path=target_path,
                project=params.dbt_project,
            )
        result = outcome.get("result")
        if "--no-write-json" in cleaned:
            _write_run_results(result, target_path)
        if result is None or not result.success:
            cause = outcome.get("error") or getattr(result, "exception", None)
            raise DbtBuildError(_failure(cleaned[0], cause, errors, target_path))


def _failure(command: str, cause: object, errors: list[str], target_path: Path) -> str:
    """What failed: the exception that stopped dbt early, else the nodes' errors."""
    lines = [str(cause)] if cause is not None else errors
    return f"dbt {command} failed:\n" + "\n".join(lines or [f"see {target_path / 'dbt.log'}"])


def _write_run_results(result: object, target_path: Path) -> None:
    """``run_results.json`` for a build told not to write dbt's JSON artifacts: the target
    folder keeps each build's results, written as dbt writes them (``RunExecutionResult``)."""
    run = getattr(result, "result", None)
    if hasattr(run, "write"):
        run.write(str(target_path / "run_results.json"))


def _release_warehouse() -> None:
    """Close dbt-duckdb's database handle, which outlives the command (it keeps one per
    process): the next step, and any other process, must be able to open the file."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager as manager

    with manager._LOCK:
        env, manager._ENV = manager._ENV, None
    if env is not None:
        env.close()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"dbt": OkendoDbtResource(project_dir=dbt_project)})
