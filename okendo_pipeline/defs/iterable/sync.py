"""Iterable's sync job, sensor and destination asset."""

import dagster as dg

from okendo_pipeline.defs.sync.factory import DestinationSpec, build
from okendo_pipeline.lib.sync.codecs import iterable_codec
from okendo_pipeline.lib.sync.engine import IterableSender

ITERABLE = DestinationSpec(
    name="iterable",
    title="Iterable",
    key_variable="ITERABLE_API_KEY",
    codec=lambda r: iterable_codec(r.identifier),
    sender=IterableSender,
    uses_attributes=False,
)


@dg.definitions
def defs() -> dg.Definitions:
    return build(ITERABLE)
