"""Braze's documented endpoint and limits for ``/users/track``.

The fakes the tests run against state the same figures on their own; a test checks the client
never asks more than the fake allows.
"""

TRACK_PATH = "/users/track"
# 3,000 requests per 3 seconds per workspace since 2024-10-28, counted in fixed windows; every
# answer says what is left (X-RateLimit-Remaining) and when the window ends (X-RateLimit-Reset),
# and the client spends that count (lib/http.WindowPacer) rather than a figure of its own.
RATE_LIMIT = (3000, 3.0)
# "Up to 75 total objects combined across attributes, events and purchases": valid under every
# account policy (legacy accounts allow 75 per array, MAU contracts 50 combined: a setting).
MAX_OBJECTS = 75
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_STRING_LENGTH = 255

# /users/delete (and /users/identify) share 20,000 requests per minute per workspace, apart from
# /users/track; at most 50 identifiers per request, of one kind.
DELETE_PATH = "/users/delete"
IDENTIFY_PATH = "/users/identify"  # 50 emails_to_identify per request
USER_ENDPOINTS_PER_SECOND = 20_000 / 60
MAX_DELETE_IDENTIFIERS = 50
