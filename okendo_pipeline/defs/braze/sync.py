"""Braze's sync job, sensor and destination asset."""

from contextlib import contextmanager

import dagster as dg

from okendo_pipeline.defs.braze.resources import BrazeResource
from okendo_pipeline.defs.sync.factory import DestinationSpec, build
from okendo_pipeline.lib.sync.codecs import braze_codec
from okendo_pipeline.lib.sync.engine import BrazeSender


@contextmanager
def _sender(resource: BrazeResource):
    with resource.client() as client:
        yield BrazeSender(client)


BRAZE = DestinationSpec(
    name="braze",
    title="Braze",
    key_variable="BRAZE_API_KEY",
    codec=lambda r: braze_codec(r.external_id),
    sender=_sender,
    uses_attributes=True,
)


@dg.definitions
def defs() -> dg.Definitions:
    return build(BRAZE)
