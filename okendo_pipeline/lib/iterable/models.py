"""Iterable API constants and response models (fact sheet section 1).

Responses tolerate unknown fields, so a new field in Iterable's reply cannot break a sync.
"""

from pydantic import BaseModel, ConfigDict, Field

US_BASE_URL = "https://api.iterable.com"
EU_BASE_URL = "https://api.eu.iterable.com"

BULK_UPDATE_PATH = "/api/users/bulkUpdate"
TRACK_BULK_PATH = "/api/events/trackBulk"

# Documented per-project limits, requests per second (Swagger "Iterable API 1.8").
RATE_LIMITS = {BULK_UPDATE_PATH: 5.0, TRACK_BULK_PATH: 10.0}
# bulkUpdate: "max body 4 MB"; trackBulk states none, treated the same.
MAX_BODY_BYTES = 4 * 1024 * 1024
# No fixed record count; integrators (and Iterable staff) use 1,000.
DEFAULT_BATCH_SIZE = 1000
MAX_EVENT_ID_BYTES = 512

DATE_FORMAT = "%Y-%m-%d %H:%M:%S +00:00"


class FailedUpdates(BaseModel):
    model_config = ConfigDict(extra="allow")

    conflictEmails: list[str] = Field(default_factory=list)
    conflictUserIds: list[str] = Field(default_factory=list)
    forgottenEmails: list[str] = Field(default_factory=list)
    forgottenUserIds: list[str] = Field(default_factory=list)
    invalidDataEmails: list[str] = Field(default_factory=list)
    invalidDataUserIds: list[str] = Field(default_factory=list)
    invalidEmails: list[str] = Field(default_factory=list)
    invalidUserIds: list[str] = Field(default_factory=list)
    notFoundEmails: list[str] = Field(default_factory=list)
    notFoundUserIds: list[str] = Field(default_factory=list)


class BulkResponse(BaseModel):
    """The 200 body of users/bulkUpdate and events/trackBulk (they share these fields)."""

    model_config = ConfigDict(extra="allow")

    successCount: int = 0
    failCount: int = 0
    failedUpdates: FailedUpdates = Field(default_factory=FailedUpdates)
    invalidEmails: list[str] = Field(default_factory=list)  # deprecated duplicates
    invalidUserIds: list[str] = Field(default_factory=list)
    disallowedEventNames: list[str] = Field(default_factory=list)
    createdFields: list[str] = Field(default_factory=list)
    filteredOutFields: list[str] = Field(default_factory=list)


# How each failure list is read: (status, reason). "rejected" = resending the same row cannot
# succeed; "retry" = it may later (a user not yet created when its events arrive).
FAILURE_CLASSES: dict[str, tuple[str, str]] = {
    "conflictEmails": ("rejected", "conflict: the email belongs to another user"),
    "conflictUserIds": ("rejected", "conflict: the userId belongs to another user"),
    "forgottenEmails": ("rejected", "user was forgotten (GDPR) in Iterable"),
    "forgottenUserIds": ("rejected", "user was forgotten (GDPR) in Iterable"),
    "invalidDataEmails": ("rejected", "invalid data fields (type differs from the project's)"),
    "invalidDataUserIds": ("rejected", "invalid data fields (type differs from the project's)"),
    "invalidEmails": ("rejected", "invalid email address"),
    "invalidUserIds": ("rejected", "invalid userId"),
    "notFoundEmails": ("retry", "user not found in Iterable"),
    "notFoundUserIds": ("retry", "user not found in Iterable"),
}
