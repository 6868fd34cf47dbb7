"""The dbt resource: dagster-dbt's, with builds run by dbt's Python API in a worker process
started with the run."""

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource
from dagster_dbt.asset_utils import (
    extract_runtime_selection_from_args,
    get_updated_cli_invocation_params_for_context,
)
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
from pydantic import PrivateAttr

from okendo_pipeline.lib import dbt_worker
from okendo_pipeline.lib.dbt_project import dbt_project


class DbtBuildError(Exception):
    """A dbt command that did not succeed: its errors, as dbt reported them."""


class OkendoDbtResource(DbtCliResource):
    """dagster-dbt's resource (project, profiles, and ``cli`` for commands run by hand), whose
    ``build`` runs dbt through dbt's programmatic API (``dbtRunner``) in a worker process
    (``lib/dbt_worker.py``) that the resource starts as the run starts.

    ``cli`` starts a new ``dbt`` process per command: a new Python, the import of dbt and its
    adapter (about 2.5 s), then dagster-dbt's ``dbt --version`` and its adapter for metadata
    this project does not fetch, before any SQL; that was most of a micro-batch's dbt step.
    The worker imports dbt while the run starts and loads, so a build finds it ready. A
    process rather than a thread of the step: storing each node's Dagster events (about 10 ms
    each in the embedded instance) then runs beside dbt, not under the same interpreter lock,
    and dbt's objects never reach the step's heap (see docs/decisions.md, "The build in a
    forked child" and "dbt's worker process")."""

    _worker: dbt_worker.Worker | None = PrivateAttr(default=None)

    @contextlib.contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["OkendoDbtResource"]:
        """dagster-dbt's set-up, and a worker started for this run's build; one that no build
        took is ended with the run."""
        self.setup_for_execution(context)
        self._worker = dbt_worker.take()
        context.log.debug(f"dbt's worker process started: pid {self._worker.process.pid}")
        try:
            yield self
        finally:
            worker, self._worker = self._worker, None
            if worker is not None:
                worker.close()

    def build(
        self,
        args: Sequence[str],
        *,
        context: dg.AssetExecutionContext,
        target_path: Path,
        prepare: Callable[[], None] | None = None,
    ) -> Iterator[dg.Output | dg.AssetCheckResult | dg.AssetObservation]:
        """``dbt <args>`` for the assets ``context`` selects, yielding each node's Dagster
        events as it finishes; raises ``DbtBuildError`` after the last if dbt failed.
        ``prepare`` is the step's own work on the warehouse, done while dbt starts (about a
        second of imports and parsing); dbt opens the warehouse once it has returned."""
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
        errors: list[str] = []
        worker, self._worker = self._worker, None  # one build per worker; else a new one
        built = dbt_worker.build(argv, "--no-write-json" in cleaned, target_path, prepare, worker)
        for kind, value in built:
            if kind == "event":
                event = DbtCoreCliEventMessage(raw_event=value, event_history_metadata={})
                yield from event.to_default_asset_events(
                    manifest=params.manifest,
                    dagster_dbt_translator=params.dagster_dbt_translator,
                    context=context,
                    target_path=target_path,
                    project=params.dbt_project,
                )
            elif kind == "error":
                errors.append(str(value))
            elif value is not None:  # "done": None when dbt succeeded, else what stopped it
                raise DbtBuildError(_failure(cleaned[0], str(value), errors, target_path))


def _failure(command: str, cause: str, errors: list[str], target_path: Path) -> str:
    """What failed: the exception that stopped dbt early, else the nodes' errors."""
    lines = [cause] if cause else errors
    return f"dbt {command} failed:\n" + "\n".join(lines or [f"see {target_path / 'dbt.log'}"])


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"dbt": OkendoDbtResource(project_dir=dbt_project)})
