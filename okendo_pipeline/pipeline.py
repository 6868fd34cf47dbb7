"""``okendo-pipeline run``: the refresh job, then every destination's sync job, in process.

The same Dagster definitions the daemon and the UI run, with the command's flags applied as run
config of the shared resources (``warehouse``, ``landing``, ``run_settings``): no second code
path and no writing of the environment. The runs go to the instance the UI shows
(``instance.home()``). The console shows one line per step and destination;
``verbose`` adds Dagster's event log and dbt's per-node lines.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

from okendo_pipeline import instance as dagster_instance
from okendo_pipeline.defs.analytics.assets import ANALYTICS, PUBLISH_JOB
from okendo_pipeline.defs.common.alerting import observe_run
from okendo_pipeline.defs.okendo.jobs import REFRESH_JOB
from okendo_pipeline.defs.sync.factory import asset_key, job_name
from okendo_pipeline.defs.sync.resource import DestinationResource
from okendo_pipeline.lib.status import render_sync_run, sync_status


@dataclass(frozen=True)
class RunOptions:
    """The flags of one ``run``; None = the setting from the environment."""

    landing: Path | None = None
    database: Path | None = None
    as_of: date | None = None
    dry_run: bool = False
    full_refresh: bool = False
    verbose: bool = False
    approve: tuple[str, ...] = ()  # destinations (or "all") whose held plan this run sends


def config_of(resource: dg.ConfigurableResource, **overrides: Any) -> dict[str, Any]:
    """A resource's whole config with ``overrides``, as run config. Whole, because run config
    for a resource replaces every value it was built with; a key bound as ``EnvVar`` stays a
    reference to its variable, never its value."""
    bound = vars(resource)  # attribute access would resolve an EnvVar; the stored value is it
    values = {name: bound[name] for name in type(resource).model_fields if name in bound}
    values |= overrides
    return {
        "config": {
            k: {"env": v.env_var_name} if isinstance(v, dg.EnvVar) else v
            for k, v in values.items()
            if v is not None
        }
    }


def resource_config(options: RunOptions, definitions: dg.Definitions) -> dict[str, Any]:
    """Run config that points the shared resources at the flags' values."""
    overrides: dict[str, dict[str, Any]] = {}
    if options.database:
        overrides["warehouse"] = {"database": str(options.database.resolve())}
    if options.landing:
        overrides["landing"] = {"path": str(options.landing)}
    run_settings: dict[str, Any] = {}
    if options.as_of:
        run_settings["as_of"] = options.as_of.isoformat()
    if options.full_refresh:
        run_settings["full_refresh"] = True
    if options.dry_run:
        run_settings["dry_run"] = True
    if options.approve:
        run_settings["approve"] = list(options.approve)
    if run_settings:
        overrides["run_settings"] = run_settings
    resources = {
        name: config_of(definitions.resources[name], **values) for name, values in overrides.items()
    }
    return {"resources": resources} if resources else {}


def destinations(definitions: dg.Definitions) -> list[tuple[str, DestinationResource]]:
    """Every destination the definitions hold: its resource is registered under its name."""
    return sorted(
        (name, r)
        for name, r in (definitions.resources or {}).items()
        if isinstance(r, DestinationResource)
    )


def run(options: RunOptions, definitions: dg.Definitions) -> int:
    """Refresh, then sync each destination that is on (all of them in a dry run); 0 when every
    step succeeded, 1 when one failed, 3 when none failed and the guard held a sync."""
    if not options.verbose:
        warnings.filterwarnings("ignore", category=dg.BetaWarning)
        warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    level = "INFO" if options.verbose else "WARNING"
    base = {
        "loggers": {"console": {"config": {"log_level": level}}},
        **resource_config(options, definitions),
    }
    database = str(
        (options.database or Path(definitions.resources["warehouse"].database)).resolve()
    )
    with dg.DagsterInstance.from_config(str(dagster_instance.home())) as inst:
        refresh = definitions.resolve_job_def(REFRESH_JOB)
        with _quiet(options.verbose):
            result = refresh.execute_in_process(
                instance=inst,
                raise_on_error=False,
                run_config=base,
                # Publishing comes once, after the syncs.
                asset_selection=list(refresh.asset_layer.selected_asset_keys - {ANALYTICS}),
            )
        observe(REFRESH_JOB, result, database)
        for line in refresh_summary(result, inst, database):
            print(line)
        if not result.success:
            print("FAILED: the refresh did not finish; nothing was synced")
            return 1
        ok, held = True, []
        for name, resource in destinations(definitions):
            if not resource.enabled and not options.dry_run:
                print(f"{name}: off ({resource.key_variable} is not set)")
                continue
            with _quiet(options.verbose):
                sync = definitions.resolve_job_def(job_name(name)).execute_in_process(
                    instance=inst,
                    raise_on_error=False,
                    run_config=base,
                    asset_selection=[asset_key(name)],  # publishing comes once, below
                )
            ok = ok and sync.success
            observe(job_name(name), sync, database)
            print(render_sync_run(database, sync.run_id, name))
            if sync_status(database, sync.run_id, name) == "held":
                held.append(name)
        with _quiet(options.verbose):
            published = definitions.resolve_job_def(PUBLISH_JOB).execute_in_process(
                instance=inst, raise_on_error=False, run_config=base
            )
        ok = ok and published.success
        observe(PUBLISH_JOB, published, database)
        print(publish_summary(published))
    if not ok:
        print("FAILED: a sync did not finish; see above")
        return 1
    if held:
        print(f"HELD by the guard: {', '.join(held)}; nothing was sent there")
        return 3
    print("succeeded")
    return 0


def observe(job: str, result: dg.ExecuteInProcessResult, database: str) -> None:
    """The job's alert state, as the daemon's run sensors would record it."""
    failures = [e.step_failure_data.error for e in result.get_step_failure_events()]
    reason = failures[0].message.strip() if failures and failures[0] else "failed"
    observe_run(job, result.run_id, result.success, reason, database)


@contextlib.contextmanager
def _quiet(verbose: bool):
    """dagster-dbt echoes every dbt line to stdout; keep them for ``--verbose``."""
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def publish_summary(result: dg.ExecuteInProcessResult) -> str:
    """One line: where the analysts' database is, and whether this run replaced it."""
    for event in result.get_asset_materialization_events():
        meta = {k: v.value for k, v in event.materialization.metadata.items()}
        if meta.get("skipped_unchanged"):
            return f"analytics: {meta['path']} unchanged"
        how = "rows written" if meta.get("mode") == "full" else "changed rows taken"
        return (
            f"analytics: published {meta['tables']} tables ({meta['rows']:,} {how}) to "
            f"{meta['path']}; {meta['seconds']:.1f}s"
        )
    failures = [e.step_failure_data.error for e in result.get_step_failure_events()]
    reason = failures[0].message.strip() if failures and failures[0] else "?"
    return f"analytics: not published: {reason}"


def last_build(database: str) -> str | None:
    """How the last dbt build went: full (and why) or incremental (how many customers)."""
    import duckdb

    with duckdb.connect(database, read_only=True) as conn:
        row = conn.execute(
            "select full_refresh, reason from raw.model_builds order by finished_at desc limit 1"
        ).fetchone()
    return None if row is None else f"{'full' if row[0] else 'incremental'}: {row[1]}"


def refresh_summary(
    result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance, database: str
) -> list[str]:
    """One line per step of the refresh: what it did, in counts, and how long it took."""
    seconds = _step_seconds(instance, result.run_id)
    values: dict[str, dict[str, Any]] = defaultdict(dict)
    built: dict[str, int] = defaultdict(int)  # dbt nodes by resource type: model, seed
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        meta = {k: v.value for k, v in mat.metadata.items()}
        values[mat.asset_key.to_user_string()] = meta
        built[str(meta.get("unique_id", "")).split(".")[0]] += 1
    checks: dict[str, dict[bool, int]] = defaultdict(lambda: {True: 0, False: 0})
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            checks[event.step_key or ""][bool(data.passed)] += 1
    lines = []
    raw = values.get("raw/loaded_files")
    if raw:
        env, rej = values["raw/envelopes"], values["raw/rejected_records"]
        lines.append(
            f"load: {raw['files_loaded']:,} new files ({raw['files_skipped']:,} unchanged), "
            f"{raw['lines']:,} lines: {env['envelopes_new']:,} new envelopes, "
            f"{env['envelopes_duplicate']:,} duplicates, {rej['rejected']:,} rejected; "
            f"{seconds.get('okendo_raw', 0):.1f}s"
        )
    api = values.get("landing/okendo_api_reviews")
    if api and api.get("status") != "off":
        lines.append(
            f"okendo api: {api['reviews']:,} reviews in {api['requests']:,} requests; "
            f"{seconds.get('okendo_api_reviews', 0):.1f}s"
        )
    dbt_step = "okendo_dbt_models"
    if dbt_step in seconds:
        passed, failed = checks[dbt_step][True], checks[dbt_step][False]
        n = built["seed"]
        seeds = f", {n:,} seed{'s' if n != 1 else ''} loaded" if n else ""
        lines.append(
            f"models: {built['model']:,} built{seeds}, {passed:,} tests passed, {failed:,} "
            f"failed; {seconds[dbt_step]:.1f}s"
        )
        failed_steps = {e.step_key for e in result.get_step_failure_events()}
        build = last_build(database) if dbt_step not in failed_steps else None
        if build:
            lines[-1] += f" ({build})"
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        lines.append(f"step {event.step_key} failed: {error.message.strip() if error else '?'}")
    return lines


def _step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    return {
        stat.step_key: (stat.end_time or stat.start_time or 0) - (stat.start_time or 0)
        for stat in instance.get_run_step_stats(run_id)
    }
