"""Iterable's documented hosts, endpoints and limits (Swagger "Iterable API 1.8").

The fakes the tests run against state the same figures on their own; a test checks the client
never asks more than the fake allows.
"""

US_BASE_URL = "https://api.iterable.com"
EU_BASE_URL = "https://api.eu.iterable.com"

BULK_UPDATE_PATH = "/api/users/bulkUpdate"
TRACK_BULK_PATH = "/api/events/trackBulk"
FORGET_PATH = "/api/users/forget"  # GDPR erasure, one user per request
MERGE_PATH = "/api/users/merge"  # one source user into one destination user per request

# Documented per-project limits, requests per second.
RATE_LIMITS = {
    BULK_UPDATE_PATH: 5.0,
    TRACK_BULK_PATH: 10.0,
    FORGET_PATH: 3.0,
    MERGE_PATH: 50.0,  # per API key
}
# bulkUpdate: "max body 4 MB"; trackBulk states none, treated the same.
MAX_BODY_BYTES = 4 * 1024 * 1024
# No fixed record count; integrators (and Iterable staff) use 1,000.
DEFAULT_BATCH_SIZE = 1000
MAX_EVENT_ID_BYTES = 512
