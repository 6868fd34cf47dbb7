"""``okendo-pipeline``: a thin command line over the same Dagster definitions (CONTRACT section 6).

``run`` executes the ``okendo_refresh`` job, the one the nightly schedule runs, in this process;
with ``DAGSTER_HOME`` set the run is recorded in that instance and shows in the Dagster UI.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from okendo_pipeline.utils import environment


def _as_of(raw: str) -> str:
    try:
        return environment.parse_as_of(raw).isoformat()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="okendo-pipeline",
        description="Okendo profiles and events: load landing files into DuckDB, build the "
        "models, sync Iterable and Braze.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write a realistic, deterministic landing folder")
    gen.add_argument("--out", required=True, type=Path, help="landing folder to write")
    gen.add_argument("--customers", required=True, type=int, help="number of customers")
    gen.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    gen.add_argument(
        "--as-of",
        type=_as_of,
        default=None,
        help="the day the data ends (ISO date; default today, UTC); every record is before it",
    )
    gen.add_argument(
        "--bad-share",
        type=float,
        default=0.001,
        help="share of extra broken lines, to exercise rejection (default 0.001)",
    )

    run = sub.add_parser(
        "run", help="load new landing files, rebuild the models, sync every destination"
    )
    run.add_argument(
        "--landing",
        type=Path,
        help=f"landing folder (default $OKENDO_LANDING_DIR or {environment.DEFAULT_LANDING_DIR})",
    )
    run.add_argument(
        "--database",
        type=Path,
        help=f"DuckDB file (default $OKENDO_DUCKDB_PATH or {environment.DEFAULT_DUCKDB_PATH})",
    )
    run.add_argument("--as-of", type=_as_of, help="reference date (ISO; default today, UTC)")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="compute and store exactly what would be sent (sync.outbox_*); send nothing; "
        "works without API keys",
    )

    status = sub.add_parser("status", help="what was loaded, rejected and synced")
    status.add_argument("--database", type=Path, help="DuckDB file (default $OKENDO_DUCKDB_PATH)")

    hooks = sub.add_parser(
        "serve-webhooks",
        help="the signed Okendo webhook receiver (secret from OKENDO_WEBHOOK_SECRET)",
    )
    hooks.add_argument(
        "--landing",
        type=Path,
        help=f"landing folder (default $OKENDO_LANDING_DIR or {environment.DEFAULT_LANDING_DIR})",
    )
    hooks.add_argument(
        "--host", default="127.0.0.1", help="interface (default 127.0.0.1; behind a TLS proxy)"
    )
    hooks.add_argument("--port", type=int, default=8787, help="port (default 8787)")

    fakes = sub.add_parser(
        "fake-destinations", help="serve local fakes of the Iterable and Braze APIs (demo, tests)"
    )
    fakes.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    fakes.add_argument("--iterable-port", type=int, default=8788, help="default 8788")
    fakes.add_argument("--braze-port", type=int, default=8789, help="default 8789")
    fakes.add_argument(
        "--no-limits", action="store_true", help="turn the documented rate limits off"
    )
    return parser


def _generate(args: argparse.Namespace) -> int:
    from okendo_pipeline.lib.okendo.generator import generate

    as_of = environment.parse_as_of(args.as_of) if args.as_of else datetime.now(UTC).date()
    report = generate(
        args.out, args.customers, seed=args.seed, as_of=as_of, bad_share=args.bad_share
    )
    print(
        f"wrote {report.lines:,} lines in {report.files} files to {report.out} "
        f"({report.customers:,} customers, {report.duplicate_lines:,} redelivered, "
        f"{report.bad_lines:,} broken on purpose) in {report.seconds:.1f}s"
    )
    return 0


def _apply_settings(args: argparse.Namespace) -> None:
    """Flags become the same environment settings the definitions read: one code path."""
    if getattr(args, "landing", None):
        os.environ["OKENDO_LANDING_DIR"] = str(args.landing)
    if getattr(args, "database", None):
        os.environ["OKENDO_DUCKDB_PATH"] = str(args.database)
    if getattr(args, "as_of", None):
        os.environ["OKENDO_AS_OF"] = args.as_of
    if getattr(args, "dry_run", False):
        os.environ["OKENDO_DRY_RUN"] = "1"


def _run(args: argparse.Namespace) -> int:
    import dagster as dg

    from okendo_pipeline.lib import dbt_project

    _apply_settings(args)
    dbt_project.prepare()  # the manifest must match the models before definitions load

    from okendo_pipeline.definitions import defs
    from okendo_pipeline.defs.braze.sync import BRAZE
    from okendo_pipeline.defs.iterable.sync import ITERABLE
    from okendo_pipeline.defs.okendo.jobs import REFRESH_JOB
    from okendo_pipeline.lib.status import render_sync_run

    destinations = (ITERABLE, BRAZE)

    landing = Path(environment.landing_dir())
    if not landing.is_dir():
        print(f"error: landing folder {landing} does not exist", file=sys.stderr)
        return 2
    definitions = defs()
    job = definitions.resolve_job_def(REFRESH_JOB)
    dry_run = environment.dry_run()
    logging = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    ctx = instance if instance is not None else dg.DagsterInstance.ephemeral()
    with ctx as inst:
        # The console shows INFO and up (our own step logs); every event stays in the instance.
        result = job.execute_in_process(instance=inst, raise_on_error=False, run_config=logging)
        _print_summary(result)
        if not result.success:
            return 1
        ok = True
        for spec in destinations:
            if not environment.secret_is_set(spec.key_variable) and not dry_run:
                print(f"{spec.title}: off ({spec.key_variable} is not set)")
                continue
            sync = definitions.resolve_job_def(spec.job_name).execute_in_process(
                instance=inst,
                raise_on_error=False,
                run_config={
                    **logging,
                    "ops": {f"{spec.name}_plan": {"config": {"dry_run": dry_run}}},
                },
            )
            ok = ok and sync.success
            print(render_sync_run(environment.duckdb_path(), sync.run_id, spec.name))
    return 0 if ok else 1


def _print_summary(result) -> None:
    print(f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        shown = {
            k: v.value
            for k, v in mat.metadata.items()
            if isinstance(v.value, int | float | str) and k != "load_id"
        }
        print(
            f"  {mat.asset_key.to_user_string()}: "
            + ", ".join(f"{k}={v}" for k, v in shown.items())
        )
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        print(f"  step {event.step_key} failed: {error.message.strip() if error else 'unknown'}")


def _status(args: argparse.Namespace) -> int:
    from okendo_pipeline.lib.status import render_status

    _apply_settings(args)
    database = environment.duckdb_path()
    if not Path(database).exists():
        print(
            f"error: database {database} does not exist; run `okendo-pipeline run` first",
            file=sys.stderr,
        )
        return 2
    print(render_status(database))
    return 0


def _serve_webhooks(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from okendo_pipeline.lib.okendo.signatures import secret_key
    from okendo_pipeline.lib.okendo.webhooks import WEBHOOK_PATH, WebhookReceiver, make_server

    _apply_settings(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    secret = os.environ.get("OKENDO_WEBHOOK_SECRET", "")  # never printed or logged
    if not secret:
        print(
            "error: set OKENDO_WEBHOOK_SECRET to the subscription's whsec_ secret", file=sys.stderr
        )
        return 2
    try:
        key = secret_key(secret)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    landing = Path(environment.landing_dir())
    landing.mkdir(parents=True, exist_ok=True)
    receiver = WebhookReceiver(landing, key, rotate_seconds=environment.webhook_rotate_seconds())
    server = make_server(receiver, args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    host, port = server.server_address[:2]
    print(
        f"receiving Okendo webhooks on http://{host}:{port}{WEBHOOK_PATH} into {landing} "
        f"({receiver.writer.recovered} files recovered from a previous run)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        receiver.writer.close()
    print(f"stopped: {receiver.counts}; {receiver.writer.published} files published", flush=True)
    return 0


def _fake_destinations(args: argparse.Namespace) -> int:
    from okendo_pipeline.lib.fakes.serve import serve_fakes

    serve_fakes(args.host, args.iterable_port, args.braze_port, limits=not args.no_limits)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {
        "generate": _generate,
        "run": _run,
        "status": _status,
        "serve-webhooks": _serve_webhooks,
        "fake-destinations": _fake_destinations,
    }
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
