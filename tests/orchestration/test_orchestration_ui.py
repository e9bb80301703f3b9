"""The Dagster UI serves the asset graph (GraphQL) and draws the lineage (headless Chromium)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from netutil import free_port, wait_until_serving

from ingestion.settings import PROJECT_ROOT
from orchestration.dbt_assets import prepare_manifest
from orchestration.instance import dagster_yaml

SCREENSHOTS = PROJECT_ROOT / "tests" / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text(dagster_yaml())
    prepare_manifest()  # as `criptopipe dbt parse` (or the image build) does
    port = free_port()
    executable = Path(sys.executable).parent / "dagster-webserver"
    log = (home / "webserver.log").open("wb")
    process = subprocess.Popen(
        [str(executable), "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{url}/server_info", process, home / "webserver.log", 180)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_graphql_serves_the_asset_graph(webserver: str) -> None:
    data = _graphql(webserver, "{assetNodes{assetKey{path} groupName dependencyKeys{path}}}")
    nodes = {tuple(n["assetKey"]["path"]): n for n in data["data"]["assetNodes"]}
    assert ("raw", "binance", "klines") in nodes
    assert nodes[("raw", "binance", "klines")]["groupName"] == "binance"
    pages = [k for k in nodes if k[0] == "dashboard"]
    assert len(pages) >= 5
    # a page depends on marts, and marts on what ingestion loads
    assert all(nodes[p]["dependencyKeys"] for p in pages)
    staging = nodes[("staging", "stg_binance__klines")]
    assert ["raw", "binance", "klines"] in [d["path"] for d in staging["dependencyKeys"]]


@pytest.mark.browser
def test_lineage_screenshot(webserver: str) -> None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("chromium is not installed (make browser-deps)")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / "dagster_lineage.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 2200, "height": 1300})
        # Upstream lineage of a dashboard page: API endpoints (raw/<source>/<endpoint>) →
        # staging → intermediate → marts → the page, each layer a group box.
        page.goto(
            f"{webserver}/assets/dashboard/market_overview"
            "?view=lineage&lineageScope=upstream&lineageDepth=6",
            wait_until="networkidle",
            timeout=120_000,
        )
        page.wait_for_timeout(2000)
        skip = page.get_by_role("button", name="Skip")  # first-visit newsletter dialog
        if skip.count():
            skip.first.click()
        page.get_by_text("market_overview").first.wait_for(timeout=60_000)
        page.wait_for_timeout(3000)
        page.screenshot(path=str(target))
        text = page.content()
        # the global lineage, groups collapsed, as a second picture
        page.goto(f"{webserver}/asset-groups", wait_until="networkidle", timeout=120_000)
        page.wait_for_timeout(3000)
        page.screenshot(path=str(SCREENSHOTS / "dagster_lineage_groups.png"))
        browser.close()
    assert target.stat().st_size > 20_000
    assert "klines" in text and "stg_" in text
