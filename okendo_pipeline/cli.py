"""``okendo-pipeline``: argument handling only, over the same Dagster definitions the daemon runs.

Each command parses its flags, reads the settings (flags win over the environment) and hands
them to the module that does the work.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from okendo_pipeline import settings
from okendo_pipeline.lib import progress
from okendo_pipeline.settings import DEFAULT_DUCKDB_PATH, DEFAULT_LANDING_DIR, SettingsError


def _iso_date(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an ISO date (YYYY-MM-DD)") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="okendo-pipeline",
        description="Okendo profiles and events: load landing files into DuckDB, build the "
        "models, sync Iterable and Braze.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    landing_help = f"landing folder (default $OKENDO_LANDING_DIR or {DEFAULT_LANDING_DIR})"
    database_help = f"DuckDB file (default $OKENDO_DUCKDB_PATH or {DEFAULT_DUCKDB_PATH})"

    gen = sub.add_parser("generate", help="write a realistic, deterministic landing folder")
    gen.add_argument("--out", required=True, type=Path, help="landing folder to write")
    gen.add_argument("--customers", required=True, type=int, help="number of customers")
    gen.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    gen.add_argument(
        "--as-of",
        type=_iso_date,
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
    run.add_argument("--landing", type=Path, help=landing_help)
    run.add_argument("--database", type=Path, help=database_help)
    run.add_argument("--as-of", type=_iso_date, help="reference date (ISO; default today, UTC)")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="compute and store exactly what would be sent (sync.outbox_*); send nothing; "
        "works without API keys",
    )
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild every model from raw (default: recompute the customers new files touched)",
    )
    run.add_argument(
        "--approve",
        action="append",
        default=[],
        metavar="DEST",
        help="send the plan for DEST even if the blast-radius guard would hold it "
        "(repeatable; 'all' for every destination)",
    )
    run.add_argument(
        "--verbose", "-v", action="store_true", help="also show Dagster's log and dbt's lines"
    )

    erase = sub.add_parser(
        "erase",
        help="erase people by email: warehouse, landing files, analysts' file, destinations",
    )
    erase.add_argument(
        "--email", action="append", required=True, metavar="ADDRESS",
        help="an address to erase (repeatable); matched as lower(trim(email))",
    )  # fmt: skip
    erase.add_argument("--database", type=Path, help=database_help)
    erase.add_argument("--landing", type=Path, help=landing_help)

    shown = sub.add_parser(
        "payloads",
        help="the payloads a destination's current plan sends (a dry run's included), as JSON "
        "lines, rendered from the plan",
    )
    shown.add_argument("--destination", required=True, help="iterable or braze")
    shown.add_argument(
        "--customer", action="append", metavar="EMAIL",
        help="only this customer's profile and events (repeatable)",
    )  # fmt: skip
    shown.add_argument("--limit", type=int, help="at most this many payloads")
    shown.add_argument("--database", type=Path, help=database_help)

    status = sub.add_parser("status", help="what was loaded, rejected and synced")
    status.add_argument("--database", type=Path, help=database_help)

    hooks = sub.add_parser(
        "serve-webhooks",
        help="the signed Okendo webhook receiver (secret from OKENDO_WEBHOOK_SECRET)",
    )
    hooks.add_argument("--landing", type=Path, help=landing_help)
    hooks.add_argument(
        "--host", default="127.0.0.1", help="interface (default 127.0.0.1; behind a TLS proxy)"
    )
    hooks.add_argument("--port", type=int, default=8787, help="port (default 8787)")

    docs = sub.add_parser(
        "docs", help="dbt's documentation of the models and their lineage, as one static page"
    )
    docs.add_argument("--database", type=Path, help=database_help)
    docs.add_argument(
        "--out", type=Path, default=Path("data/dbt_docs"), help="folder (default data/dbt_docs)"
    )

    ui = sub.add_parser(
        "ui",
        help="Dagster's UI and daemon on the instance the other commands use "
        "($DAGSTER_HOME, else .dagster_home here)",
    )
    ui.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    ui.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    return parser


def _generate(args: argparse.Namespace, s: settings.Settings) -> int:
    from okendo_pipeline.lib.okendo.generator.generate import generate

    report = generate(
        args.out,
        args.customers,
        seed=args.seed,
        as_of=args.as_of or s.reference_date(),
        bad_share=args.bad_share,
    )
    print(
        f"wrote {report.lines:,} lines in {report.files} files to {report.out} "
        f"({report.customers:,} customers, {report.duplicate_lines:,} redelivered, "
        f"{report.bad_lines:,} broken on purpose) in {report.seconds:.1f}s"
    )
    return 0


def _run(args: argparse.Namespace, s: settings.Settings) -> int:
    from okendo_pipeline.lib import dbt_worker

    landing = args.landing or s.landing_dir
    if not landing.is_dir():
        print(f"error: landing folder {landing} does not exist", file=sys.stderr)
        return 2
    dbt_worker.prestart()  # dbt's import, beside Dagster's import and the definitions' load
    from okendo_pipeline import pipeline
    from okendo_pipeline.lib import dbt_project

    dbt_project.prepare_if_changed()  # the manifest must match the models before loading
    from okendo_pipeline.definitions import defs

    definitions = defs()
    known = {name for name, _ in pipeline.destinations(definitions)}
    unknown = sorted(set(args.approve) - known - {"all"})
    if unknown:
        print(
            f"error: --approve {', '.join(unknown)}: not a destination "
            f"(one of {', '.join(sorted(known))}, or all)",
            file=sys.stderr,
        )
        return 2
    options = pipeline.RunOptions(
        landing=args.landing,
        database=args.database,
        as_of=args.as_of,
        dry_run=args.dry_run or s.dry_run,
        full_refresh=args.full_refresh,
        verbose=args.verbose,
        approve=tuple(args.approve),
    )
    return pipeline.run(options, definitions)


def _erase(args: argparse.Namespace, s: settings.Settings) -> int:
    from okendo_pipeline import erase
    from okendo_pipeline.lib.erasure.addresses import normalise

    for n, address in enumerate(args.email, 1):
        try:
            normalise(address)
        except ValueError:
            print(f"error: --email number {n} is not an email address", file=sys.stderr)
            return 2
    from okendo_pipeline.definitions import defs

    return erase.run(args.email, args.database, args.landing, defs())


def _payloads(args: argparse.Namespace, s: settings.Settings) -> int:
    import json

    import duckdb

    from okendo_pipeline.lib.sync.dry_run import payloads

    database = (args.database or s.duckdb_path).resolve()
    if not database.exists():
        print(f"error: database {database} does not exist", file=sys.stderr)
        return 2
    from okendo_pipeline.definitions import defs

    resources = defs().resources or {}
    resource = resources.get(args.destination)
    if resource is None or not hasattr(resource, "codec"):
        print(f"error: --destination {args.destination}: not a destination", file=sys.stderr)
        return 2
    customers = [c.strip().lower() for c in args.customer] if args.customer else None
    with duckdb.connect(str(database), read_only=True) as conn:
        for row in payloads(conn, resource.codec(), customers, args.limit):
            print(json.dumps(row, default=str))
    return 0


def _status(args: argparse.Namespace, s: settings.Settings) -> int:
    from okendo_pipeline.lib.status import render_status

    database = (args.database or s.duckdb_path).resolve()
    if not database.exists():
        print(
            f"error: database {database} does not exist; run `okendo-pipeline run` first",
            file=sys.stderr,
        )
        return 2
    print(render_status(str(database)))
    return 0


def _serve_webhooks(args: argparse.Namespace, s: settings.Settings) -> int:
    from okendo_pipeline.lib.okendo.sources.signatures import secret_key
    from okendo_pipeline.lib.okendo.sources.webhooks import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if s.webhook_secret is None:
        print(
            "error: set OKENDO_WEBHOOK_SECRET to the subscription's whsec_ secret", file=sys.stderr
        )
        return 2
    try:
        key = secret_key(s.webhook_secret.get_secret_value())  # never printed or logged
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    landing = args.landing or s.landing_dir
    serve(landing, key, args.host, args.port, rotate_seconds=s.webhook_rotate_seconds)
    return 0


def _docs(args: argparse.Namespace, s: settings.Settings) -> int:
    """``dbt docs generate --static`` against the warehouse: one HTML file to open or share."""
    import json

    from dbt.cli.main import dbtRunner

    from okendo_pipeline.lib.dbt_project import dbt_project

    database = (args.database or s.duckdb_path).resolve()
    if not database.exists():
        print(f"error: database {database} does not exist; run `okendo-pipeline run` first",
              file=sys.stderr)  # fmt: skip
        return 2
    out = args.out.resolve()
    project = str(dbt_project.project_dir)
    result = dbtRunner().invoke([
        "docs", "generate", "--static", "--quiet", "--project-dir", project,
        "--profiles-dir", project, "--target-path", str(out),
        "--vars", json.dumps({"duckdb_path": str(database)}),
    ])  # fmt: skip
    if not result.success:
        print(f"error: dbt docs generate failed: {result.exception or 'see dbt.log'}",
              file=sys.stderr)  # fmt: skip
        return 1
    print(f"open {out / 'static_index.html'}")
    return 0


def _ui(args: argparse.Namespace, s: settings.Settings) -> int:
    """``dagster dev`` (webserver and daemon) on this package's definitions and instance."""
    import subprocess

    from okendo_pipeline import instance

    env = instance.environment()
    print(f"Dagster instance: {env[instance.HOME_VARIABLE]}", flush=True)
    print(f"UI: http://{args.host}:{args.port}", flush=True)
    command = [
        sys.executable, "-m", "dagster", "dev", "-m", "okendo_pipeline.definitions",
        "--host", args.host, "--port", str(args.port),
    ]  # fmt: skip
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    progress.attach_terminal()
    try:
        s = settings.load()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    handlers = {
        "generate": _generate,
        "run": _run,
        "erase": _erase,
        "payloads": _payloads,
        "status": _status,
        "serve-webhooks": _serve_webhooks,
        "ui": _ui,
        "docs": _docs,
    }
    return handlers[args.command](args, s)


if __name__ == "__main__":
    sys.exit(main())
