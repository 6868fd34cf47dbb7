"""``python -m okendo_fakes``: both destination fakes on loopback ports, until interrupted.

For the sample-data demo and the benchmark: point ``ITERABLE_BASE_URL`` and
``BRAZE_REST_ENDPOINT`` at the printed URLs. The fakes accept the keys in ``ITERABLE_API_KEY`` and
``BRAZE_API_KEY`` when those are set (never printed), else the demo keys below.
"""

import contextlib
import os
import signal
import threading

from okendo_fakes.braze import RATE_LIMIT, FakeBraze
from okendo_fakes.iterable import RATE_LIMITS, FakeIterable
from okendo_fakes.server import FakeServer

DEMO_ITERABLE_KEY = "iterable-test-key"
DEMO_BRAZE_KEY = "braze-test-key"


def serve_fakes(host: str, iterable_port: int, braze_port: int, *, limits: bool = True) -> None:
    iterable_key = os.environ.get("ITERABLE_API_KEY") or DEMO_ITERABLE_KEY
    braze_key = os.environ.get("BRAZE_API_KEY") or DEMO_BRAZE_KEY
    iterable = FakeIterable(
        api_keys=frozenset({iterable_key}), limits=RATE_LIMITS if limits else None
    )
    braze = FakeBraze(api_keys=frozenset({braze_key}), rate_limit=RATE_LIMIT if limits else None)
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


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m okendo_fakes", description="Serve fakes of the Iterable and Braze APIs."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--iterable-port", type=int, default=8788, help="default 8788")
    parser.add_argument("--braze-port", type=int, default=8789, help="default 8789")
    parser.add_argument("--no-limits", action="store_true", help="turn the documented limits off")
    args = parser.parse_args()
    serve_fakes(args.host, args.iterable_port, args.braze_port, limits=not args.no_limits)


if __name__ == "__main__":
    main()
