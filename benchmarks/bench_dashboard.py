"""Dashboard page load time, p50/p95, on the demo dataset and on one ten times larger.

Each dataset is built the way ``make demo`` builds it (simulator → ingestion → dbt build)
in a database of its own, then every page is run through Streamlit's AppTest, which runs the
page script exactly as the server does (queries, pandas, figure building, element tree;
not the browser's drawing). Two timings per page:

* cold: the query cache and the built figures emptied before each run (a first visit);
* warm: the cache kept (every later visit within the TTL).

And two filter settings: the default date range (the last 90 days) and the whole history.

    uv run python benchmarks/bench_dashboard.py            # demo (60 days) and 10x (600 days)
    uv run python benchmarks/bench_dashboard.py --runs 20 --keep
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "dashboard"))

from pipeline import build_warehouse, drop_warehouse  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from dashboard import data, filters, ui  # noqa: E402
from ingestion.services import Services  # noqa: E402
from ingestion.settings import load_settings  # noqa: E402

APP = ROOT / "dashboard" / "streamlit_app.py"
PAGES = {
    "market_overview": None,
    "asset": "app_pages/asset.py",
    "cross_exchange": "app_pages/cross_exchange.py",
    "risk": "app_pages/risk.py",
    "data_health": "app_pages/data_health.py",
}
ASSETS = ("BTC", "ETH", "SOL", "XRP")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def time_page(
    page: str,
    runs: int,
    *,
    cold: bool,
    whole_history: bool = False,
    dates: tuple[date, date] | None = None,
    state: Mapping[str, Any] | None = None,
    before: Callable[[], None] | None = None,
    after: Callable[[AppTest], None] | None = None,
    timeout: float = 120,
) -> list[float]:
    """One page's run through AppTest, ``runs`` times: each run's wall (ms).

    Args:
        page: A key of :data:`PAGES`.
        runs: How many timed runs.
        cold: Empty the query cache before each timed run.
        whole_history: The date filter spans every daily candle (else ``dates``, else the
            sidebar's default).
        dates: The date filter, when not the whole history.
        state: More session state to set before the first run (a page's own widgets).
        before: Called right before each timed run.
        after: Called with the AppTest after each timed run.
        timeout: AppTest's timeout of a run (s).

    Returns:
        The timed runs' walls in milliseconds.

    Raises:
        RuntimeError: The page raised.
    """
    timings: list[float] = []
    span = data.data_date_range()
    chosen = span if whole_history else dates
    for _ in range(runs):
        at = AppTest.from_file(str(APP), default_timeout=timeout)
        if chosen:
            at.session_state[filters.DATES_KEY] = chosen
        for key, value in (state or {}).items():
            at.session_state[key] = value
        at.session_state[filters.ASSETS_KEY] = list(ASSETS)
        at.run()  # the router's first run lands on the market overview
        if PAGES[page]:
            at.switch_page(PAGES[page])
        if cold:
            data.clear_cache()
            ui.clear_figures()  # a first view of these data: no figure built before either
        if before:
            before()
        started = time.perf_counter()
        at.run()
        timings.append((time.perf_counter() - started) * 1000)
        if at.exception:
            raise RuntimeError(f"{page}: {at.exception[0].value}")
        if after:
            after(at)
    return timings


def bench_dataset(label: str, database: str, runs: int) -> None:
    os.environ["CRIPTOPIPE_POSTGRES_DB"] = database
    data.clear_cache()
    span = data.data_date_range()
    print(f"\n## {label}: database {database}, daily candles {span[0]} .. {span[1]}", flush=True)
    print(
        f"{'page':<16}{'filters':<10}{'cold p50':>10}{'cold p95':>10}"
        f"{'warm p50':>10}{'warm p95':>10}   (ms, {runs} runs)",
        flush=True,
    )
    for whole in (False, True):
        for page in PAGES:
            cold = time_page(page, runs, cold=True, whole_history=whole)
            warm = time_page(page, runs, cold=False, whole_history=whole)
            print(
                f"{page:<16}{'all' if whole else '90 days':<10}"
                f"{statistics.median(cold):>10.0f}{_percentile(cold, 0.95):>10.0f}"
                f"{statistics.median(warm):>10.0f}{_percentile(warm, 0.95):>10.0f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per page and mode")
    parser.add_argument("--days", type=int, default=60, help="history of the demo dataset")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    args = parser.parse_args()

    settings = load_settings()
    services = Services(settings)
    services.up()
    endpoints = services.endpoints()
    work = Path(tempfile.mkdtemp(prefix="bench_dashboard_"))
    datasets = [("demo", args.days), ("10x", args.days * 10)]
    for label, days in datasets:
        name = f"criptopipe_bench_dashboard_{label}"
        started = time.perf_counter()
        warehouse = build_warehouse(
            settings, endpoints, name, work / label, days=days, assets=ASSETS
        )
        print(
            f"built {label} ({days} days x {len(ASSETS)} assets) in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        try:
            bench_dataset(f"{label} ({days} days)", name, args.runs)
        finally:
            if not args.keep:
                drop_warehouse(endpoints, warehouse)


if __name__ == "__main__":
    main()
