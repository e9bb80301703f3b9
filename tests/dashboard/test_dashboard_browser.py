"""Every page in a real browser: the Streamlit server on a free port against the demo
warehouse, headless Debian Chromium through Playwright; no error box, charts drawn, and a
screenshot of each page in tests/artifacts/screenshots/<page>.png (git-ignored)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from netutil import free_port
from pipeline import Warehouse

from dashboard.server import command

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
PAGES = ["market_overview", "asset", "cross_exchange", "risk", "data_health", "lake"]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer at {url}")


@pytest.fixture(scope="module")
def dashboard_url(
    demo_warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "CRIPTOPIPE_POSTGRES_DB": demo_warehouse.database,
        "CRIPTOPIPE_MONGO_DB": demo_warehouse.mongo_db,
    }
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command(port), env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (make browser-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


# A page draws in seconds; under a loaded CI machine (two test workers on two cores) it
# has been seen to need more than 30 s.
PAGE_TIMEOUT_MS = 90_000


@pytest.mark.parametrize("page_name", PAGES)
def test_page_in_browser(page_name: str, dashboard_url: str, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    try:
        page.goto(f"{dashboard_url}/{page_name}", wait_until="domcontentloaded")
        page.wait_for_selector('[data-testid="stAppViewContainer"]', timeout=PAGE_TIMEOUT_MS)
        # the page's own title, then at least one drawn Plotly chart
        page.wait_for_selector("h1", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
            timeout=PAGE_TIMEOUT_MS,
        )
        page.wait_for_timeout(1500)  # let every chart finish its first draw
        assert page.locator('[data-testid="stException"]').count() == 0
        assert "No data yet" not in page.inner_text("body")
        assert page.locator(".js-plotly-plot").count() >= 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{page_name}.png"), full_page=True)
    finally:
        page.close()
