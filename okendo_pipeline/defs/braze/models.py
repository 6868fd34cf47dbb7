"""Braze's ``/users/track`` response bodies, and the external-id setting's values.

Responses tolerate unknown fields, so a new field in Braze's reply cannot break a sync.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
