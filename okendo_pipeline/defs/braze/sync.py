"""Braze's sync job, sensor and destination asset."""

import dagster as dg

from okendo_pipeline.defs.sync.factory import DestinationSpec, build
from okendo_pipeline.lib.sync.codecs import braze_codec
from okendo_pipeline.lib.sync.engine import BrazeSender

BRAZE = DestinationSpec(
    name="braze",
    title="Braze",
    key_variable="BRAZE_API_KEY",
    codec=lambda r: braze_codec(r.external_id),
    sender=BrazeSender,
    uses_attributes=True,
)


@dg.definitions
def defs() -> dg.Definitions:
    return build(BRAZE)
