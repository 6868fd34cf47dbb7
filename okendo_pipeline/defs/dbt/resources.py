"""The dbt resource: dagster-dbt's, with builds run by dbt's Python API in a forked child of
the step's process."""

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
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
# dbt's last event before it first opens a connection ("Concurrency: 2 threads", as the run
# starts): a build whose step still works on the warehouse waits there.
OPENS_THE_WAREHOUSE_NEXT = "ConcurrencyLine"


class DbtBuildError(Exception):
    """A dbt command that did not succeed: its errors, as dbt reported them."""


class OkendoDbtResource(DbtCliResource):
    """dagster-dbt's resource (project, profiles, and ``cli`` for commands run by hand), whose
    ``build`` runs dbt through dbt's programmatic API (``dbtRunner``) in a child forked from
    the step's process.

    ``cli`` starts a new ``dbt`` process per command: a new Python, the import of dbt and its
    adapter (about 2.5 s), then dagster-dbt's ``dbt --version`` and its adapter for metadata
    this project does not fetch, before any SQL; that was most of a micro-batch's dbt step.
    A fork starts from what the step's process has already imported. Forked rather than a
    thread of the step: storing each node's Dagster events (about 10 ms each in the embedded
    instance) then runs beside dbt, not under the same interpreter lock, and dbt's objects
    never reach the step's heap (see docs/decisions.md, "The build in a forked child")."""

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
        built = _forked_build(argv, "--no-write-json" in cleaned, target_path, prepare)
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


def _forked_build(
    argv: list[str],
    write_results: bool,
    target_path: Path,
    prepare: Callable[[], None] | None = None,
) -> Iterator[tuple[str, object]]:
    """Run ``dbtRunner().invoke(argv)`` in a forked child and yield what it sends, in order:
    ("event", a finished node's event as a dict), ("error", an error line), and last ("done",
    None on success, else the reason). With ``prepare``, the child waits before it first opens
    the warehouse until ``prepare`` has run here (DuckDB lets one process at a time write a
    file); if ``prepare`` raises, the child is killed and the error goes on. A child that ends
    without "done" (killed, out of memory) ends the build with its exit code; a step stopped
    early (the run stopped from the UI) kills the child before it returns."""
    fork = multiprocessing.get_context("fork")
    receiver, sender = fork.Pipe(duplex=False)
    gate, opener = fork.Pipe(duplex=False) if prepare is not None else (None, None)
    child = fork.Process(
        target=_child,
        args=(argv, write_results, target_path, sender, os.getpid(), gate),
        name="dbt build",
        daemon=True,
    )
    child.start()
    sender.close()  # the child's copy is the only writer: its exit ends the pipe
    done = False
    try:
        if prepare is not None and opener is not None:
            prepare()
            # The warehouse is free: dbt may open it. This process keeps its copy of the
            # gate open, so the send holds even when dbt has already ended (it failed before
            # its run, and what it sent says why).
            opener.send(True)
        while not done:
            try:
                kind, value = receiver.recv()
            except EOFError:
                child.join()
                value = f"dbt's process ended (exit code {child.exitcode}) before it finished"
                kind = "done"
            done = kind == "done"
            yield kind, value
        child.join()
    finally:
        receiver.close()
        for end in (gate, opener):
            if end is not None:
                end.close()
        if child.is_alive():  # stopped early: dbt must not go on writing the warehouse
            child.kill()
            child.join()


def _child(
    argv: list[str],
    write_results: bool,
    target_path: Path,
    sender: Connection,
    parent: int,
    gate: Connection | None,
) -> None:
    """The forked child: dbt's build, each finished node's event sent as it happens; with a
    ``gate``, dbt opens the warehouse once the parent says it may."""
    _end_with(parent)
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    waiting = [gate] if gate is not None else []

    def on_event(msg) -> None:  # called on dbt's threads: one sends at a time on the pipe
        if waiting and msg.info.name == OPENS_THE_WAREHOUSE_NEXT:
            waiting.pop().recv()  # holds dbt's main thread; the parent kills it on failure
        if msg.info.name in RESULT_EVENTS:
            event: tuple[str, object] = ("event", msg_to_dict(msg))
        elif msg.info.level == "error":
            event = ("error", msg.info.msg)
        else:
            return
        with lock:
            sender.send(event)

    lock = threading.Lock()
    reason: str | None = "dbt stopped"  # until dbt returns
    try:
        result = dbtRunner(callbacks=[on_event]).invoke(argv)
        if write_results:
            _write_run_results(result, target_path)
        # "" when the nodes failed: their error lines, already sent, say why
        reason = None if result.success else str(result.exception or "")
    except BaseException as error:  # dbtRunner returns what it catches; not all
        reason = str(error) or repr(error)
    finally:
        try:
            _release_warehouse()
        finally:
            sender.send(("done", reason))
            sender.close()


def _end_with(parent: int) -> None:
    """Have the kernel kill this process when ``parent`` ends (Linux's parent-death signal):
    a run killed outright leaves no dbt behind, writing the warehouse and holding its lock."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # ended before the signal was asked for
        os._exit(1)


def _failure(command: str, cause: str, errors: list[str], target_path: Path) -> str:
    """What failed: the exception that stopped dbt early, else the nodes' errors."""
    lines = [cause] if cause else errors
    return f"dbt {command} failed:\n" + "\n".join(lines or [f"see {target_path / 'dbt.log'}"])


def _write_run_results(result: object, target_path: Path) -> None:
    """``run_results.json`` for a build told not to write dbt's JSON artifacts: the target
    folder keeps each build's results, written as dbt writes them (``RunExecutionResult``)."""
    run = getattr(result, "result", None)
    if hasattr(run, "write"):
        run.write(str(target_path / "run_results.json"))


def _release_warehouse() -> None:
    """Close dbt-duckdb's database handle, which outlives the command (it keeps one per
    process), before the build's process ends: closed, the file is checkpointed and free for
    the next step and any other process; a process that just ends leaves its write-ahead log
    for the next opener to replay."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager as manager

    with manager._LOCK:
        env, manager._ENV = manager._ENV, None
    if env is not None:
        env.close()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"dbt": OkendoDbtResource(project_dir=dbt_project)})
