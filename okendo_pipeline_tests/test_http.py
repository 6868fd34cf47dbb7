"""The HTTP layer: retry decisions, waits, pacing, typed errors, redaction, over loopback."""

import logging
import random
import time

import pytest

from okendo_fakes.braze import FakeBraze
from okendo_fakes.server import FakeServer, Fault, Response
from okendo_pipeline.lib.http import (
    AuthError,
    BadRequestError,
    HttpClient,
    RateLimitError,
    RetryPolicy,
    ServerError,
    Timeouts,
    TokenBucket,
    TransportError,
    WindowPacer,
    server_wait_seconds,
)

FAST = RetryPolicy(max_attempts=4, max_rate_limited=3, base_delay=0.01, max_delay=0.05)
BODY = b'{"attributes":[{"external_id":"a","okendo_given_name":"A"}]}'


def test_retry_decision_by_status():
    policy = RetryPolicy(max_attempts=3, max_rate_limited=2)
    for status in (None, 500, 502, 503, 504):
        assert policy.should_retry(status, attempt=1, rate_limited=0)
        assert not policy.should_retry(status, attempt=3, rate_limited=0)
    for status in (400, 401, 403, 404, 409, 413):
        assert not policy.should_retry(status, attempt=1, rate_limited=0)
    assert policy.should_retry(429, attempt=99, rate_limited=1)
    assert not policy.should_retry(429, attempt=1, rate_limited=2)


def test_backoff_grows_with_jitter_inside_bounds():
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        waits = [policy.backoff(attempt, rng) for _ in range(200)]
        assert min(waits) >= ceiling / 2 and max(waits) <= ceiling
        assert len(set(waits)) > 100  # jittered, not fixed


def test_server_wait_reads_retry_after_and_braze_reset():
    now = 1_700_000_000.0
    assert server_wait_seconds({"Retry-After": "7"}, now) == 7.0
    http_date = "Tue, 14 Nov 2023 22:13:30 GMT"  # 10 s after `now`
    assert server_wait_seconds({"retry-after": http_date}, now) == pytest.approx(10.0)
    assert server_wait_seconds({"x-ratelimit-reset": str(int(now) + 3)}, now) == 3.0
    assert server_wait_seconds({"X-RateLimit-Reset": str(int(now) - 3)}, now) == 0.0
    assert server_wait_seconds({"Content-Type": "application/json"}, now) is None


def test_token_bucket_paces_to_rate_and_pauses():
    clock = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        clock[0] += s

    bucket = TokenBucket(10.0, clock=lambda: clock[0], sleep=sleep)
    for _ in range(21):
        bucket.acquire()
    # One token up front, then one every 0.1 s: 20 more need 2 s of waiting.
    assert clock[0] == pytest.approx(2.0)
    bucket.pause(5.0)
    assert bucket.acquire() == pytest.approx(5.0)
    assert TokenBucket(None, clock=lambda: 0.0).reserve() == 0.0


def test_a_window_pacer_holds_nothing_without_the_window_headers() -> None:
    """Until an answer carries X-RateLimit-*, and for answers without them (or with garbage),
    only a 429's pause holds a request; once a window is known, its share paces."""
    now = [1_000.0]
    pacer = WindowPacer(0.9, 2, wall=lambda: now[0], clock=lambda: now[0])
    for headers in ({}, {"Content-Type": "application/json"}, {"X-RateLimit-Limit": "ten"}):
        for _ in range(20):
            assert pacer.reserve() == 0.0
            pacer.observe(headers)
    pacer.pause(4.0)  # a 429 said when its window resets
    assert pacer.reserve() == pytest.approx(4.0)
    now[0] += 4.0
    # 3 left of 10, a tenth kept for the workspace's other senders, 2 in flight: none for us.
    pacer.observe({"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "3",
                   "X-RateLimit-Reset": str(now[0] + 2.5)})  # fmt: skip
    assert pacer.reserve() == pytest.approx(2.5)
    now[0] += 2.5  # the window turned: the next answer tells the new count
    assert pacer.reserve() == 0.0


def client(url: str, key: str = "braze-test-key", **kw) -> HttpClient:
    return HttpClient(
        destination="braze",
        base_url=url,
        secret_headers={"Authorization": f"Bearer {key}"},
        retry=kw.pop("retry", FAST),
        **kw,
    )


def test_retries_5xx_and_dropped_connections_then_succeeds(braze_fake):
    app, url = braze_fake
    app.inject(Fault("status", status=503), Fault("drop"), Fault("status", status=500))
    with client(url) as http:
        resp = http.post("/users/track", BODY)
    assert resp.status == 201 and resp.attempts == 4
    assert resp.ambiguous_retries == 3  # each failure could have been after the work was done
    assert app.count_requests("/users/track") == 4
    assert len(app.profiles) == 1


def test_gives_up_after_bounded_attempts(braze_fake):
    app, url = braze_fake
    app.inject(Fault("status", status=502, times=None))
    with client(url) as http, pytest.raises(ServerError, match=r"HTTP 502.*after 4 attempts"):
        http.post("/users/track", BODY)
    assert app.count_requests() == 4


def test_read_timeout_is_retried_and_counted_ambiguous(braze_fake):
    app, url = braze_fake
    app.inject(Fault("slow", seconds=0.5))
    with client(url, timeouts=Timeouts(connect=1, read=0.2)) as http:
        resp = http.post("/users/track", BODY)
    assert resp.attempts == 2 and resp.ambiguous_retries == 1
    # The slow request was applied after the client gave up: the profile exists once.
    time.sleep(0.4)
    assert len(app.profiles) == 1


def test_connection_refused_is_a_transport_error_not_ambiguous():
    with client("http://127.0.0.1:9") as http, pytest.raises(TransportError):
        http.post("/users/track", BODY)


def test_auth_failure_fails_fast_without_retry(braze_fake, caplog):
    app, url = braze_fake
    caplog.set_level(logging.DEBUG)
    with client(url, key="wrong-secret-value") as http, pytest.raises(AuthError) as err:
        http.post("/users/track", BODY)
    assert app.count_requests() == 1
    assert "HTTP 401" in str(err.value)
    assert "wrong-secret-value" not in str(err.value) + caplog.text


def test_other_4xx_is_not_retried(braze_fake):
    app, url = braze_fake
    with client(url) as http, pytest.raises(BadRequestError, match="Valid data must be"):
        http.post("/users/track", b'{"attributes":[]}')
    assert app.count_requests() == 1


def test_429_waits_for_braze_reset_then_succeeds(braze_fake):
    app, url = braze_fake
    app.inject(Fault("rate_limit"))
    pacer = TokenBucket(None)
    started = time.time()
    with client(url) as http:
        resp = http.post("/users/track", BODY, pacer=pacer)
    # Reset is the next whole 3-second window boundary (epoch seconds): the retry waits for it.
    assert resp.status == 201 and resp.attempts == 1
    assert time.time() >= int(started - started % 3 + 3) - 0.01
    assert app.count_requests() == 2


def test_429_budget_is_bounded(braze_fake):
    app, url = braze_fake
    app.window = None  # reset headers absent: falls back to backoff
    app.inject(Fault("rate_limit", times=None))
    app.rate_limited = lambda path: Response(429, {"message": "slow down"})
    with client(url) as http, pytest.raises(RateLimitError, match="still rate limited"):
        http.post("/users/track", BODY)
    assert app.count_requests() == FAST.max_rate_limited


def test_fake_rate_limit_is_enforced_and_paced_client_stays_under_it():
    # 5 a second: an unpaced burst of 25 could only miss every 429 by spreading over five
    # windows (4 s or more). With 20 a second it needed only to cross one window's edge, which
    # a loaded CI machine did once.
    app = FakeBraze(rate_limit=(5, 1.0))
    with FakeServer(app) as server, client(server.url) as http:
        for _ in range(25):
            http.post("/users/track", BODY, pacer=TokenBucket(None))
        statuses = [r.status for r in app.requests]
    # Unpaced: some 429s from the fixed window, every request still landed after waiting.
    assert 429 in statuses and statuses.count(201) == 25
