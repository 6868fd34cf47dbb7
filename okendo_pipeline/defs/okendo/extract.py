"""The Okendo API extractor as an asset upstream of ingestion: reviews into the landing folder."""

from datetime import timedelta
from pathlib import Path

import dagster as dg

from okendo_pipeline.defs.common.resources import LandingResource
from okendo_pipeline.defs.okendo.api_resources import OkendoApiResource
from okendo_pipeline.lib.okendo.sources.api import extract_reviews

API_REVIEWS = dg.AssetKey(["landing", "okendo_api_reviews"])


@dg.asset(
    key=API_REVIEWS,
    group_name="okendo_raw",
    kinds={"okendo"},
    description="Reviews read from the Okendo Enterprise API (every status) since the last "
    "watermark minus an overlap window, written as a landing file. Off without "
    "OKENDO_API_USER / OKENDO_API_KEY.",
)
def okendo_api_reviews(
    context: dg.AssetExecutionContext, okendo_api: OkendoApiResource, landing: LandingResource
) -> dg.MaterializeResult:
    if not okendo_api.enabled:
        context.log.info("Okendo API extraction is off: OKENDO_API_USER/OKENDO_API_KEY not set")
        return dg.MaterializeResult(metadata={"status": "off", "reviews": 0})
    with okendo_api.client() as client:
        report = extract_reviews(
            client, Path(landing.path), overlap=timedelta(days=okendo_api.overlap_days)
        )
    return dg.MaterializeResult(
        metadata={
            "status": "extracted",
            "reviews": report.reviews,
            "requests": report.requests,
            "file": report.file or "",
            "watermarks": dg.MetadataValue.json(report.watermarks),
        }
    )
