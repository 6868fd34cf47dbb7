"""Iterable's bulk response bodies, and how each failure list is read.

Responses tolerate unknown fields, so a new field in Iterable's reply cannot break a sync.
"""

from pydantic import BaseModel, ConfigDict, Field


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
