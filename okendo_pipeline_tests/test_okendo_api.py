"""The Okendo API extractor against the loopback fake: paging, auth, limits, resumption,
and the watermark boundary; what it writes loads through ingestion."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from okendo_fakes.okendo import FakeOkendo
from okendo_fakes.server import FakeServer, Fault
from okendo_pipeline.lib.http import AuthError, RetryPolicy, ServerError
from okendo_pipeline.lib.okendo.loader import load_landing
from okendo_pipeline.lib.okendo.sources.api import OkendoApiClient, StateFile, extract_reviews
from okendo_pipeline_tests.samples import resource

FAST = RetryPolicy(max_attempts=3, max_rate_limited=30, base_delay=0.01, max_delay=0.05)
START = datetime(2026, 10, 1, tzinfo=UTC)


def api_review(n: int, created: datetime, status: str = "approved") -> dict:
    """A review as the API returns it (media in the API's own shape, extra fields)."""
    review = resource("review", reviewId=f"r{n:05d}", status=status)
    review |= {
        "dateCreated": created.isoformat().replace("+00:00", "Z"),
        "subscriberId": "sub-1",
        "helpfulCount": 2,
        "media": [{"streamId": "s1", "type": "image", "fullSizeUrl": "https://img/1.jpg",
                   "thumbnailUrl": "https://img/1t.jpg", "isHidden": False}],
    }  # fmt: skip
    return review


@pytest.fixture
def okendo():
    app = FakeOkendo()
    with FakeServer(app) as server:
        yield app, server.url


def client(url: str, **kw) -> OkendoApiClient:
    return OkendoApiClient("okendo-user", "okendo-key", url, **{"retry": FAST, **kw})


def landed(landing: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted((landing / "review").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_pages_every_status_and_loads(okendo, tmp_path):
    app, url = okendo
    app.reviews = [api_review(n, START + timedelta(minutes=n)) for n in range(250)]
    app.reviews += [api_review(300 + n, START, "pending") for n in range(30)]
    app.reviews += [api_review(400 + n, START, "rejected") for n in range(5)]
    landing = tmp_path / "landing"
    with client(url) as c:
        report = extract_reviews(c, landing, overlap=timedelta(days=7))
    assert report.reviews == 285
    assert report.requests == 3 + 1 + 1  # 100 + 100 + 50, then one page each
    envelopes = landed(landing)
    assert len({e["resource"]["reviewId"] for e in envelopes}) == 285
    first = envelopes[0]
    assert first["resourceType"] == "review" and first["topic"] == "update"
    assert first["sequenceNumber"].isdigit() and first["version"] == "2025-02-01"
    assert first["resource"]["media"][0]["url"] == "https://img/1.jpg"
    assert first["resource"]["helpfulCount"] == 2  # unknown fields kept
    assert not list((landing / ".okendo_api").glob("*.part"))  # published, nothing half-done
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        load_landing(conn, landing)
        assert conn.execute("select count(*) from raw.rejected_records").fetchone()[0] == 0
        assert (
            conn.execute(
                "select count(*) from raw.current_resources where resource_type = 'review'"
            ).fetchone()[0]
            == 285
        )


def test_paced_under_two_per_second_and_429_is_honoured(okendo, tmp_path):
    app, url = okendo
    app.reviews = [api_review(n, START + timedelta(seconds=n)) for n in range(900)]
    with client(url) as c:
        extract_reviews(c, tmp_path / "paced", overlap=timedelta(days=7))
    assert [r.status for r in app.requests].count(429) == 0
    app.requests.clear()
    with client(url, rate_fraction=None) as c:  # unpaced: the fake throttles, nothing is lost
        report = extract_reviews(c, tmp_path / "unpaced", overlap=timedelta(days=7))
    assert 429 in [r.status for r in app.requests] and report.reviews == 900


def test_bad_credentials_fail_fast_and_clearly(okendo, tmp_path):
    app, url = okendo
    with (
        OkendoApiClient("okendo-user", "wrong-key-xyz", url, retry=FAST) as c,
        pytest.raises(AuthError, match="HTTP 401") as err,
    ):
        extract_reviews(c, tmp_path / "landing", overlap=timedelta(days=7))
    assert len(app.requests) == 1 and "wrong-key-xyz" not in str(err.value)


def test_a_failed_run_is_resumed_by_the_next(okendo, tmp_path):
    app, url = okendo
    app.reviews = [api_review(n, START + timedelta(minutes=n)) for n in range(250)]
    app.reviews += [api_review(500, START, "pending")]
    landing = tmp_path / "landing"
    with client(url) as c:
        extract_reviews(c, landing, overlap=timedelta(days=7))
    first_marks = StateFile(landing).load()
    # New reviews arrive; the second page fails for good this time.
    app.reviews += [api_review(1000 + n, START + timedelta(days=1, minutes=n)) for n in range(150)]
    app.inject(Fault("status", status=503, times=1), Fault("status", status=503, times=1))
    app.faults.insert(0, Fault("slow", seconds=0, times=1))  # the first page goes through
    with (
        client(url, retry=RetryPolicy(max_attempts=2, base_delay=0.01)) as c,
        pytest.raises(ServerError),
    ):
        extract_reviews(c, landing, overlap=timedelta(days=7))
    # The watermark did not move; the page that was read is published all the same.
    assert StateFile(landing).load() == first_marks
    assert len(landed(landing)) == 251 + 100
    with client(url) as c:
        extract_reviews(c, landing, overlap=timedelta(days=7))
    ids = {e["resource"]["reviewId"] for e in landed(landing)}
    assert ids == {r["reviewId"] for r in app.reviews}
    assert StateFile(landing).load()["reviews.approved"] > first_marks["reviews.approved"]


def test_watermark_boundary_with_overlap(okendo, tmp_path):
    app, url = okendo
    app.reviews = [api_review(n, START + timedelta(hours=n)) for n in range(48)]
    landing = tmp_path / "landing"
    with client(url) as c:
        extract_reviews(c, landing, overlap=timedelta(hours=6))
    mark = datetime.fromisoformat(
        StateFile(landing).load()["reviews.approved"].replace("Z", "+00:00")
    )
    app.reviews += [
        api_review(900, mark),  # the same instant as the watermark
        api_review(901, mark - timedelta(hours=5)),  # late, inside the overlap window
        api_review(902, mark - timedelta(hours=7)),  # late, outside it: not caught
        api_review(903, mark + timedelta(minutes=1)),  # new
    ]
    app.requests.clear()
    with client(url) as c:
        report = extract_reviews(c, landing, overlap=timedelta(hours=6))
    second = {e["resource"]["reviewId"] for e in landed(landing)[48:]}
    assert {"r00900", "r00901", "r00903"} <= second and "r00902" not in second
    # Read down to the window only: 7 old reviews again, not all 48.
    assert report.reviews == len(second) == 3 + 7
    assert len([r for r in app.requests if r.status == 200]) == 3  # one page per status
