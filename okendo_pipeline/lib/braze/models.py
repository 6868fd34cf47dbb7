"""Braze API constants and response models (fact sheet section 2).

Responses tolerate unknown fields, so a new field in Braze's reply cannot break a sync.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TRACK_PATH = "/users/track"
# 3,000 requests per 3 seconds per workspace since 2024-10-28.
RATE_LIMIT_PER_SECOND = 1000.0
# "Up to 75 total objects combined across attributes, events and purchases": valid under every
# account policy (legacy accounts allow 75 per array, MAU contracts 50 combined: a setting).
MAX_OBJECTS = 75
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_STRING_LENGTH = 255

ExternalIdSetting = Literal["shopify_customer_id", "email"]


class TrackError(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "unknown error"
    input_array: str | None = None
    index: int | None = None


class TrackResponse(BaseModel):
    """201 ``{"message": "success", ..., "errors": [...]}``; 202 ``{"message": "queued"}``."""

    model_config = ConfigDict(extra="allow")

    message: str = ""
    errors: list[TrackError] = Field(default_factory=list)
    attributes_processed: int | None = None
    events_processed: int | None = None
