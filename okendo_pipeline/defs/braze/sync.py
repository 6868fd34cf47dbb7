"""Braze's sync: its resource, destination asset, job and sensor."""

import dagster as dg

from okendo_pipeline import settings
from okendo_pipeline.defs.braze.resources import resource
from okendo_pipeline.defs.sync.factory import build


@dg.definitions
def defs() -> dg.Definitions:
    return build("braze", resource(settings.load().braze), uses_attributes=True)
