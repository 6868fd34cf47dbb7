"""The Dagster UI in a real browser (Playwright driving Debian's chromium): the asset graph from
the raw files to both destinations, a refresh launched from the UI that succeeds, and a
destination's metadata. Screenshots go to ``$OKENDO_UI_SCREENSHOTS`` when set (docs/ keeps the
ones the README shows), else beside the test's files."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from okendo_fakes.braze import FakeBraze
from okendo_fakes.iterable import FakeIterable
from okendo_fakes.server import FakeServer
from okendo_pipeline.lib.okendo.generator.generate import generate
from okendo_pipeline_tests.runs import stop_group

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
LOCATION = "okendo_pipeline.definitions"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_text(page: Page, url: str, *texts: str, timeout: float = 240) -> str:
    """Load ``url`` until its page shows every one of ``texts``; the page's text."""
    deadline = time.monotonic() + timeout
    body = ""
    while time.monotonic() < deadline:
        page.goto(url, wait_until="networkidle")
        skip = page.get_by_role("button", name="Skip")  # Dagster's first-visit newsletter box
        if skip.count():
            skip.click()
        page.wait_for_timeout(1000)
        body = page.inner_text("body")
        if all(t in body for t in texts):
            return body
        time.sleep(2)
    raise AssertionError(f"{url} never showed {texts}; last seen:\n{body[-1500:]}")


@pytest.fixture
def ui(tmp_path: Path):
    """`okendo-pipeline ui` in a folder with generated data, syncing to both fakes."""
    generate(tmp_path / "data" / "landing", 30, seed=12, as_of=date(2026, 6, 1))
    iterable, braze = FakeIterable(), FakeBraze()
    port = free_port()
    with FakeServer(iterable) as si, FakeServer(braze) as sb:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OKENDO_", "DAGSTER_"))}
        env |= {
            "PYTHONPATH": str(REPO),
            "OKENDO_AS_OF": "2026-06-01",
            "OKENDO_EVENTS_BACKFILL_START": "all",
            "ITERABLE_API_KEY": "iterable-test-key",
            "ITERABLE_BASE_URL": si.url,
            "BRAZE_API_KEY": "braze-test-key",
            "BRAZE_REST_ENDPOINT": sb.url,
        }
        log = (tmp_path / "ui.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "okendo_pipeline.cli", "ui", "--port", str(port)],
            cwd=tmp_path, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                    break
                except OSError:
                    assert process.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
                    assert time.monotonic() < deadline, "the UI did not start"
                    time.sleep(1)
            yield f"http://127.0.0.1:{port}", iterable
        finally:
            stop_group(process)


def test_the_ui_shows_the_lineage_runs_the_refresh_and_a_destinations_metadata(ui, tmp_path):
    base, iterable = ui
    shots = Path(os.environ.get("OKENDO_UI_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        # The lineage, raw files to both destinations.
        groups = ("okendo_raw", "okendo_staging", "okendo_intermediate", "okendo_marts",
                  "destinations", "analytics")  # fmt: skip
        wait_for_text(page, f"{base}/asset-groups", *groups)
        page.screenshot(path=str(shots / "asset-lineage.png"))

        # The landing sensor's first micro-batch syncs both destinations; their metadata shows.
        body = wait_for_text(page, f"{base}/assets/destination/iterable", "profiles_accepted")
        assert "Okendo profiles and events as acknowledged by Iterable" in body
        page.screenshot(path=str(shots / "destination-iterable.png"))
        assert iterable.users  # the fake holds what the UI reports

        # The refresh, launched from its job's page, runs to success.
        job = f"{base}/locations/{LOCATION}/jobs/okendo_refresh"
        wait_for_text(page, job, "Materialize all")
        page.get_by_role("button", name="Materialize all").first.click()
        page.wait_for_timeout(2000)
        wait_for_text(page, f"{job}/runs", "Success")
        page.screenshot(path=str(shots / "refresh-succeeded.png"))
        browser.close()
