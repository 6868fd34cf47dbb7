"""The clients never ask more of a destination than it allows: each client's limits are at or
below the figures the fakes state on their own (taken from the vendors' documentation)."""

from okendo_fakes import braze as braze_fake
from okendo_fakes import iterable as iterable_fake
from okendo_pipeline.defs.braze import limits as braze
from okendo_pipeline.defs.braze.resources import BrazeResource
from okendo_pipeline.defs.iterable import limits as iterable
from okendo_pipeline.defs.iterable.resources import IterableResource


def test_iterable_client_stays_within_the_fake() -> None:
    assert (iterable.BULK_UPDATE_PATH, iterable.TRACK_BULK_PATH) == (
        iterable_fake.BULK_UPDATE_PATH,
        iterable_fake.TRACK_BULK_PATH,
    )
    resource = IterableResource()
    for path, rate in iterable.RATE_LIMITS.items():
        assert rate <= iterable_fake.RATE_LIMITS[path], path
        assert rate * resource.rate_fraction <= iterable_fake.RATE_LIMITS[path], path
    assert iterable.MAX_BODY_BYTES <= iterable_fake.MAX_BODY_BYTES
    assert resource.settings().max_body_bytes <= iterable_fake.MAX_BODY_BYTES
    assert iterable.MAX_EVENT_ID_BYTES <= iterable_fake.MAX_EVENT_ID_BYTES


def test_braze_client_stays_within_the_fake() -> None:
    assert braze.TRACK_PATH == braze_fake.TRACK_PATH
    assert braze.RATE_LIMIT == braze_fake.RATE_LIMIT
    resource = BrazeResource(rest_endpoint="http://127.0.0.1:1")
    # The pacer spends the window's count as the answers give it, at most this share of it.
    assert 0 < resource.rate_fraction <= 1
    assert braze.MAX_OBJECTS <= braze_fake.MAX_OBJECTS
    assert resource.settings().max_objects <= braze_fake.MAX_OBJECTS
    assert braze.MAX_BODY_BYTES <= braze_fake.MAX_BODY_BYTES
    assert resource.settings().max_body_bytes <= braze_fake.MAX_BODY_BYTES
    assert braze.MAX_STRING_LENGTH <= braze_fake.MAX_STRING_LENGTH


def test_removals_and_merges_stay_within_the_fakes() -> None:
    assert (iterable.FORGET_PATH, iterable.MERGE_PATH) == (
        iterable_fake.FORGET_PATH,
        iterable_fake.MERGE_PATH,
    )
    assert (braze.DELETE_PATH, braze.IDENTIFY_PATH) == (
        braze_fake.DELETE_PATH,
        braze_fake.IDENTIFY_PATH,
    )
    per_window, seconds = braze_fake.USER_ENDPOINTS_LIMIT
    assert per_window / seconds >= braze.USER_ENDPOINTS_PER_SECOND
    assert braze.MAX_DELETE_IDENTIFIERS <= braze_fake.MAX_DELETE_IDENTIFIERS
