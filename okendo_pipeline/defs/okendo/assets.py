"""Ingestion: the landing folder into the ``raw`` schema of the warehouse."""

from pathlib import Path

import dagster as dg

from okendo_pipeline import settings
from okendo_pipeline.defs.common.resources import LandingResource, WarehouseResource
from okendo_pipeline.defs.okendo.extract import API_REVIEWS
from okendo_pipeline.lib import alerts
from okendo_pipeline.lib.okendo import loader

RAW_GROUP = "okendo_raw"
ENVELOPES = dg.AssetKey(["raw", "envelopes"])
CURRENT = dg.AssetKey(["raw", "current_resources"])
REJECTED = dg.AssetKey(["raw", "rejected_records"])
LOADED_FILES = dg.AssetKey(["raw", "loaded_files"])
TOUCHED = dg.AssetKey(["raw", "touched_customers"])
# Above this share of rejected lines in one load, the check warns: something upstream broke.
MAX_REJECTED_SHARE = 0.01


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ENVELOPES,
            description="Every accepted envelope, one row per (resource type, id, sequence "
            "number): the full history, deduplicated.",
            kinds={"duckdb"},
            # Files also arrive from the webhook receiver and the generator, outside Dagster.
            deps=[API_REVIEWS],
        ),
        dg.AssetSpec(
            CURRENT,
            description="Current state per resource: its envelope with the highest sequence "
            "number; deleted resources are absent.",
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            REJECTED,
            description="Lines that broke the contract, with file, line, reason and raw text.",
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            LOADED_FILES,
            description="Manifest of loaded landing files with their content hash.",
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            TOUCHED,
            description="Customers the loads since the last dbt build touched: what an "
            "incremental build recomputes.",
            kinds={"duckdb"},
        ),
    ],
    group_name=RAW_GROUP,
    check_specs=[
        dg.AssetCheckSpec(
            "rejected_share",
            asset=REJECTED,
            description=f"At most {MAX_REJECTED_SHARE:.0%} of the lines loaded in a run are "
            "rejected.",
        )
    ],
)
def okendo_raw(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, landing: LandingResource
):
    """Load landing files not loaded before; loading the same files again changes nothing."""
    with warehouse.connect() as conn:
        report = loader.load_landing(conn, Path(landing.path))
        totals = conn.execute(
            "select (select count(*) from raw.envelopes), "
            "(select count(*) from raw.rejected_records), "
            "(select count(distinct customer_key) from raw.touched_customers)"
        ).fetchone()
    context.log.info(
        "loaded %d of %d files: %d lines, %d new envelopes, %d duplicates, %d rejected",
        report.files_loaded,
        report.files_seen,
        report.lines,
        report.envelopes_new,
        report.envelopes_duplicate,
        report.rejected,
    )
    for changed in report.files_changed:
        context.log.warning("landing file %s changed after it was loaded; loaded again", changed)
    common = {"load_id": report.load_id}
    yield dg.MaterializeResult(
        asset_key=ENVELOPES,
        metadata={
            **common,
            "envelopes_new": report.envelopes_new,
            "envelopes_duplicate": report.envelopes_duplicate,
            "new_by_type": dg.MetadataValue.json(report.new_by_type),
            "dagster/row_count": totals[0],
        },
    )
    yield dg.MaterializeResult(
        asset_key=CURRENT, metadata={**common, "dagster/row_count": report.current_resources}
    )
    yield dg.MaterializeResult(
        asset_key=REJECTED,
        metadata={
            **common,
            "rejected": report.rejected,
            "rejected_by_type": dg.MetadataValue.json(report.rejected_by_type),
            "dagster/row_count": totals[1],
        },
    )
    yield dg.MaterializeResult(
        asset_key=LOADED_FILES,
        metadata={
            **common,
            "files_seen": report.files_seen,
            "files_loaded": report.files_loaded,
            "files_skipped": report.files_skipped,
            "lines": report.lines,
        },
    )
    yield dg.MaterializeResult(
        asset_key=TOUCHED, metadata={**common, "customers_to_rebuild": totals[2]}
    )
    share = report.rejected / report.lines if report.lines else 0.0
    alerts.observe(
        settings.load().alerts(),
        warehouse.database,
        "rejected lines of a load",
        share > MAX_REJECTED_SHARE,
        f"{report.rejected:,} of {report.lines:,} lines rejected ({share:.1%}; the check "
        f"allows {MAX_REJECTED_SHARE:.0%}); see raw.rejected_records",
    )
    yield dg.AssetCheckResult(
        asset_key=REJECTED,
        check_name="rejected_share",
        passed=share <= MAX_REJECTED_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rejected": report.rejected, "lines": report.lines, "share": share},
    )
