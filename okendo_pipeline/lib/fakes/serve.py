"""``okendo-pipeline fake-destinations``: both fakes on loopback ports, until interrupted.

For the sample-data demo and the benchmark: point ``ITERABLE_BASE_URL`` and
``BRAZE_REST_ENDPOINT`` at the printed URLs. The fakes accept the keys in ``ITERABLE_API_KEY`` and
``BRAZE_API_KEY`` when those are set (never printed), else the demo keys below.
"""

import contextlib
import os
import signal
import threading

from okendo_pipeline.lib.fakes.braze import FakeBraze
from okendo_pipeline.lib.fakes.iterable import FakeIterable
from okendo_pipeline.lib.fakes.server import FakeServer
from okendo_pipeline.lib.iterable.models import RATE_LIMITS

DEMO_ITERABLE_KEY = "iterable-test-key"
DEMO_BRAZE_KEY = "braze-test-key"


def serve_fakes(host: str, iterable_port: int, braze_port: int, *, limits: bool = True) -> None:
    iterable_key = os.environ.get("ITERABLE_API_KEY") or DEMO_ITERABLE_KEY
    braze_key = os.environ.get("BRAZE_API_KEY") or DEMO_BRAZE_KEY
    iterable = FakeIterable(
        api_keys=frozenset({iterable_key}), limits=RATE_LIMITS if limits else None
    )
    braze = FakeBraze(api_keys=frozenset({braze_key}), rate_limit=(3000, 3.0) if limits else None)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FakeServer(iterable, host, iterable_port) as si, FakeServer(braze, host, braze_port) as sb:
        print(f"fake Iterable: {si.url}  (state: {si.url}/_fake/state)", flush=True)
        print(f"fake Braze:    {sb.url}  (state: {sb.url}/_fake/state)", flush=True)
        print(f"limits: {'documented' if limits else 'off'}; keys: "
              f"{'from the environment' if 'ITERABLE_API_KEY' in os.environ else 'demo keys'}; "
              "Ctrl-C stops", flush=True)  # fmt: skip
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
