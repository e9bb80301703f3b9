"""Record the dashboard as an animated GIF (and a screenshot per page) for the README.

Starts Streamlit on a free port against the configured warehouse (by default the offline
demo's, `criptopipe_demo`: run `make demo` first), opens every page in headless Chromium
(Debian's `chromium`), takes frames while scrolling, and writes `dashboard/docs/dashboard.gif`
plus `dashboard/docs/<page>.png`.

    uv run python dashboard/docs/make_gif.py [--database criptopipe_demo] [--chromium PATH]
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PAGES = ("market_overview", "asset", "cross_exchange", "risk", "data_health")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"nothing answered at {url} after {timeout:.0f} s")


def _frame(png: bytes, width: int) -> Image.Image:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    height = round(image.height * width / image.width)
    return image.resize((width, height), Image.Resampling.LANCZOS)


def record(base_url: str, chromium: str, width: int) -> list[Image.Image]:
    """Screenshot every page of the dashboard at ``base_url`` and return the GIF's frames.

    Each page is saved as ``dashboard/docs/<page>.png`` and contributes frames taken while
    scrolling, resized to ``width`` pixels.
    """
    from playwright.sync_api import sync_playwright

    frames: list[Image.Image] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        for name in PAGES:
            page.goto(f"{base_url}/{name}", wait_until="networkidle")
            page.wait_for_selector("h1", timeout=60_000)
            page.wait_for_timeout(2_500)  # let Plotly finish drawing
            page.screenshot(path=str(HERE / f"{name}.png"), full_page=True)
            for scroll in (0, 700):
                page.evaluate(
                    "y => document.querySelector('section.main, [data-testid=stMain]')"
                    "?.scrollTo(0, y)",
                    scroll,
                )
                page.wait_for_timeout(600)
                frames.append(_frame(page.screenshot(), width))
        browser.close()
    return frames


def main() -> None:
    """Serve the dashboard on a free port, record it, and write ``dashboard/docs/dashboard.gif``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="criptopipe_demo")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--width", type=int, default=900, help="GIF width in pixels")
    args = parser.parse_args()

    port = _free_port()
    env = {**os.environ, "CRIPTOPIPE_POSTGRES_DB": args.database}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "dashboard" / "streamlit_app.py"),
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_http(f"{base_url}/_stcore/health")
        frames = record(base_url, args.chromium, args.width)
    finally:
        server.terminate()
        server.wait(20)
    palette = [f.quantize(colors=128, method=Image.Quantize.MEDIANCUT) for f in frames]
    out = HERE / "dashboard.gif"
    palette[0].save(
        out, save_all=True, append_images=palette[1:], duration=1600, loop=0, optimize=True
    )
    sys.stdout.write(f"{len(frames)} frames -> {out} ({out.stat().st_size / 1e6:.1f} MB)\n")


if __name__ == "__main__":
    main()
