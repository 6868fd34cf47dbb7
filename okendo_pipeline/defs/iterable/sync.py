"""Iterable's sync: its resource, destination asset, job and sensor."""

import dagster as dg

from okendo_pipeline import settings
from okendo_pipeline.defs.iterable.resources import resource
from okendo_pipeline.defs.sync.factory import build


@dg.definitions
def defs() -> dg.Definitions:
    return build("iterable", resource(settings.load().iterable), uses_attributes=False)
