"""The dbt resource: dagster-dbt's, with builds run by dbt's Python API in a forked child of
the step's process."""

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
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
# The child forked for each run's build as the run starts (``OkendoDbtResource``), by run id:
# Dagster hands the step a copy of the resource, so the child is not kept on the resource.
_SPARES: dict[str, "_Child"] = {}
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
    never reach the step's heap (see docs/decisions.md, "The build in a forked child").

    In a run, the child is forked when the run starts (``setup_for_execution``): it imports
    dbt and builds the schemas dbt validates its project and profile against while the run's
    first steps go on, then waits for the build."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if context.run_id:  # a run, not a sensor or schedule asking for it
            _SPARES[context.run_id] = _Child.fork(warm=True)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        spare = _SPARES.pop(context.run_id, None) if context.run_id else None
        if spare is not None:  # the run built nothing
            spare.stop()

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
        spare = _SPARES.pop(context.run_id, None)
        if spare is not None and not spare.process.is_alive():  # killed meanwhile
            spare.stop()
            spare = None
        child = spare or _Child.fork(warm=False)
        built = _forked_build(child, argv, "--no-write-json" in cleaned, target_path, prepare)
        with contextlib.closing(built):  # the child is stopped as the build ends, even on error
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


@dataclass
class _Child:
    """A forked child that runs one dbt command: ``commands`` takes it, ``results`` gives what
    dbt does, ``opener`` tells it the warehouse is free. This process keeps the child's reading
    ends (``kept``) open too, so a send holds when the child has already ended (dbt failed
    before its run, and what it sent says why); only the child writes ``results``, so its exit
    ends that pipe."""

    process: BaseProcess
    commands: Connection
    results: Connection
    opener: Connection
    kept: tuple[Connection, ...]

    @classmethod
    def fork(cls, *, warm: bool) -> "_Child":
        """Fork it now; with ``warm``, it does what every build does first before it waits."""
        fork = multiprocessing.get_context("fork")
        results, sender = fork.Pipe(duplex=False)
        gate, opener = fork.Pipe(duplex=False)
        command, commands = fork.Pipe(duplex=False)
        process = fork.Process(
            target=_child,
            args=(command, sender, gate, os.getpid(), warm),
            name="dbt build",
            daemon=True,
        )
        process.start()
        sender.close()
        return cls(process, commands, results, opener, (gate, command))

    def stop(self) -> None:
        """Close the pipes; kill the child if it is still running (a spare never used, a step
        stopped early: dbt must not go on writing the warehouse)."""
        for end in (self.commands, self.results, self.opener, *self.kept):
            end.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


def _forked_build(
    child: _Child,
    argv: list[str],
    write_results: bool,
    target_path: Path,
    prepare: Callable[[], None] | None = None,
) -> Iterator[tuple[str, object]]:
    """Run ``dbtRunner().invoke(argv)`` in ``child`` and yield what it sends, in order:
    ("event", a finished node's event as a dict), ("error", an error line), and last ("done",
    None on success, else the reason). With ``prepare``, the child waits before it first opens
    the warehouse until ``prepare`` has run here (DuckDB lets one process at a time write a
    file); if ``prepare`` raises, the child is killed and the error goes on. A child that ends
    without "done" (killed, out of memory) ends the build with its exit code; a step stopped
    early (the run stopped from the UI) kills the child before it returns."""
    child.commands.send((argv, write_results, str(target_path), prepare is not None))
    done = False
    try:
        if prepare is not None:
            prepare()
            child.opener.send(True)  # the warehouse is free: dbt may open it
        while not done:
            try:
                kind, value = child.results.recv()
            except EOFError:
                child.process.join()
                code = child.process.exitcode
                value = f"dbt's process ended (exit code {code}) before it finished"
                kind = "done"
            done = kind == "done"
            yield kind, value
        child.process.join()
    finally:
        child.stop()


def _child(
    command: Connection, sender: Connection, gate: Connection, parent: int, warm: bool
) -> None:
    """The forked child: with ``warm``, dbt's start that no command changes; then the command,
    each finished node's event sent as it happens; when the command says so, dbt opens the
    warehouse once the parent says it may (``gate``)."""
    _end_with(parent)
    if warm:
        _warm_up()
    try:
        argv, write_results, target, gated = command.recv()
    except EOFError:  # a spare the run did not use
        return
    target_path = Path(target)
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    waiting = [gate] if gated else []

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


def _warm_up() -> None:
    """What every dbt command does first, whatever its arguments: import dbt's command line
    and adapter, and build the JSON schemas dbt checks the project, its flags and the profile
    against (cached per process; about 0.3 s). Best effort: a dbt without these names builds
    them in the command, as it would anyway."""
    try:
        from dbt.adapters.duckdb.credentials import DuckDBCredentials
        from dbt.cli.main import dbtRunner  # noqa: F401 (imported to be ready)
        from dbt.contracts.project import PackageConfig, Project, ProjectFlags

        for schema in (Project, ProjectFlags, PackageConfig, DuckDBCredentials):
            schema.json_schema()
    except (ImportError, AttributeError):
        pass


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
