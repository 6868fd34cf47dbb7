"""dbt's builds in a worker process: a new Python started (fork and exec) when the run starts,
which imports dbt meanwhile and then runs one command through dbt's Python API (``dbtRunner``),
sending each finished node's event to the step as it happens.

Not a fork of the step's process: that process has threads (Dagster's, the test's servers),
and a child forked from it inherits their half-used objects; such children died of
segmentation faults in the garbage collector while dbt parsed (docs/decisions.md, "dbt's
worker process"). A new process inherits nothing of Python's.

The step's side is ``start`` (or ``prestart`` and ``take``) and ``build``; ``python -m
okendo_pipeline.lib.dbt_worker`` is the worker's. This module imports neither Dagster nor dbt at
the top, so the worker starts light."""

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

# dbt's events for a finished node, which dagster-dbt turns into outputs and check results.
RESULT_EVENTS = frozenset({"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"})
# dbt's last event before it first opens a connection ("Concurrency: 2 threads", as the run
# starts): a build whose step still works on the warehouse waits there.
OPENS_THE_WAREHOUSE_NEXT = "ConcurrencyLine"
# What a worker's command line holds: how tests and operators tell it from other processes.
MODULE = "okendo_pipeline.lib.dbt_worker"


@dataclass
class Worker:
    """A started worker, waiting for its command: ``requests`` goes to it (the command, then
    the go-ahead to open the warehouse), ``events`` comes from it, and so does what dbt prints
    (``process.stdout``)."""

    process: subprocess.Popen
    requests: Connection
    events: Connection

    def end(self) -> None:
        """End the worker unless it has ended: one that got no command (the run ended first)
        has nothing to finish, one still building was stopped early."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        """End the worker and let go of its pipes."""
        self.end()
        self.requests.close()
        self.events.close()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start() -> Worker:
    """A worker process, importing dbt while the caller goes on. It ends with the caller."""
    to_worker, requests = os.pipe()
    events, from_worker = os.pipe()
    package_root = str(Path(__file__).resolve().parents[2])  # this checkout's code
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    process = subprocess.Popen(
        [sys.executable, "-m", MODULE, str(to_worker), str(from_worker), str(os.getpid())],
        pass_fds=(to_worker, from_worker),
        env={**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"},  # lines as they come
        stdout=subprocess.PIPE,  # echoed by the build, where the step's output goes then
    )
    os.close(to_worker)
    os.close(from_worker)
    return Worker(process, Connection(requests, readable=False), Connection(events, writable=False))


# The worker started ahead for this process's next build (``prestart``), until one takes it.
_ahead: Worker | None = None


def prestart() -> None:
    """Start this process's next worker now, for a caller that knows a build is coming long
    before the run's resources start (``okendo-pipeline run``, which then imports Dagster and
    loads the definitions: about 4 s, against about 2 s for the worker's import of dbt)."""
    global _ahead
    if _ahead is None or _ahead.process.poll() is not None:
        _ahead = start()


def take() -> Worker:
    """The worker started ahead if it still waits for its command, else a new one."""
    global _ahead
    worker, _ahead = _ahead, None
    if worker is not None and worker.process.poll() is None:
        return worker
    if worker is not None:
        worker.close()
    return start()


def build(
    argv: list[str],
    write_results: bool,
    target_path: Path,
    prepare: Callable[[], None] | None = None,
    worker: Worker | None = None,
) -> Iterator[tuple[str, object]]:
    """Run ``dbtRunner().invoke(argv)`` in ``worker`` (a new one when None) and yield what it
    sends, in order: ("event", a finished node's event as a dict), ("error", an error line),
    and last ("done", None on success, else the reason). The worker runs with this process's
    environment and folder as they are now. With ``prepare``, the worker waits before it
    first opens the warehouse until ``prepare`` has run here (DuckDB lets one process at a
    time write a file); if ``prepare`` raises, the worker is killed and the error goes on. A
    worker that ends without "done" (killed, out of memory) ends the build with its exit
    code; a step stopped early (the run stopped from the UI) kills the worker before it
    returns."""
    worker = worker or start()
    process = worker.process
    echo = threading.Thread(target=_echo, args=(process.stdout,), name="dbt's output")
    echo.start()
    done = False
    try:
        command = (argv, write_results, str(target_path), dict(os.environ), os.getcwd())
        # A worker that has died takes nothing: its exit code, read below, says so.
        with contextlib.suppress(BrokenPipeError):
            worker.requests.send((*command, prepare is not None))
        if prepare is not None:
            prepare()
            # The warehouse is free: dbt may open it. A worker that has already ended (dbt
            # failed before its run) takes nothing: what it sent says why.
            with contextlib.suppress(BrokenPipeError):
                worker.requests.send(True)
        while not done:
            try:
                kind, value = worker.events.recv()
            except EOFError:
                process.wait()
                value = f"dbt's process ended (exit code {process.returncode}) before it finished"
                kind = "done"
            done = kind == "done"
            yield kind, value
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)  # it ends at once; one that does not is killed below
    finally:
        worker.end()  # stopped early (the step raised): dbt must not go on writing
        echo.join()  # dbt's last lines, written before the step goes on
        worker.close()


def _echo(output) -> None:
    """Write what the worker prints to this process's standard output as it is now, line by
    line: where the caller has redirected it (``okendo-pipeline run`` keeps dbt's lines for
    ``--verbose``), or into the step's captured output in Dagster."""
    for line in output:  # read to the end whatever happens, or the worker blocks on a full pipe
        with contextlib.suppress(AttributeError, OSError, ValueError):  # none, or closed
            sys.stdout.write(line.decode(errors="replace"))
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stdout.flush()


# -- the worker's side ---------------------------------------------------------------------------


def main() -> None:
    """The worker: import dbt, wait for the command, run it, say how it ended."""
    to_worker, from_worker, parent = (int(a) for a in sys.argv[1:4])
    _end_with(parent)
    requests = Connection(to_worker, writable=False)
    events = Connection(from_worker, readable=False)
    import dbt.adapters.duckdb  # noqa: F401  (loaded by the first command otherwise)
    from dbt.cli.main import dbtRunner  # the import the worker is started early for
    from dbt_common.events.functions import msg_to_dict

    try:
        argv, write_results, target_path, environ, folder, gated = requests.recv()
    except EOFError:
        return  # the run ended without a build
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(folder)
    waiting = [requests] if gated else []

    def on_event(msg) -> None:  # called on dbt's threads: one sends at a time on the pipe
        if waiting and msg.info.name == OPENS_THE_WAREHOUSE_NEXT:
            waiting.pop().recv()  # holds dbt's main thread; the step kills it on failure
        if msg.info.name in RESULT_EVENTS:
            event: tuple[str, object] = ("event", msg_to_dict(msg))
        elif msg.info.level == "error":
            event = ("error", msg.info.msg)
        else:
            return
        with lock:
            events.send(event)

    lock = threading.Lock()
    reason: str | None = "dbt stopped"  # until dbt returns
    try:
        result = dbtRunner(callbacks=[on_event]).invoke(argv)
        if write_results:
            _write_run_results(result, Path(target_path))
        # "" when the nodes failed: their error lines, already sent, say why
        reason = None if result.success else str(result.exception or "")
    except BaseException as error:  # dbtRunner returns what it catches; not all
        reason = str(error) or repr(error)
    finally:
        try:
            _release_warehouse()
        finally:
            events.send(("done", reason))
            events.close()
    _exit_now()


def _exit_now() -> None:
    """End without Python's tear-down, which the step waits for: 0.4-0.5 s of collecting
    dbt's modules and objects. What exit does besides runs first (its ``atexit`` handlers,
    1 ms): they flush the logs and release the semaphores dbt made, which the resource
    tracker would otherwise report as leaked on the run's standard error."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _end_with(parent: int) -> None:
    """Have the kernel kill this process when ``parent`` ends (Linux's parent-death signal):
    a run killed outright leaves no dbt behind, writing the warehouse and holding its lock."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # ended before the signal was asked for
        os._exit(1)


def _write_run_results(result: object, target_path: Path) -> None:
    """``run_results.json`` for a build told not to write dbt's JSON artifacts: the target
    folder keeps each build's results, written as dbt writes them (``RunExecutionResult``)."""
    run = getattr(result, "result", None)
    if hasattr(run, "write"):
        run.write(str(target_path / "run_results.json"))


def _release_warehouse() -> None:
    """Close dbt-duckdb's database handle, which outlives the command (it keeps one per
    process), before the worker ends: closed, the file is checkpointed and free for the next
    step and any other process; a process that just ends leaves its write-ahead log for the
    next opener to replay."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager as manager

    with manager._LOCK:
        env, manager._ENV = manager._ENV, None
    if env is not None:
        env.close()


if __name__ == "__main__":
    main()
