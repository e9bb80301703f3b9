"""Opt-in checks against the real public APIs: ``uv run pytest -m live tests/ingestion``.

One small request per source through the real connectors and the shared HTTP client,
parsed by the same code as every run, asserting the shapes the parsers rely on. Nothing is
stored: no database is needed. Deselected by default (``-m 'not live'`` in pyproject) and
never run in CI; without internet access they fail, which says nothing about the code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ingestion.connectors.base import ParseResult, PlanContext
from ingestion.connectors.registry import get_endpoint
from ingestion.http import HttpClient
from ingestion.settings import LIVE_BASE_URLS, SOURCES, Settings, load_settings
from ingestion.simulator.resolved import sim_assets

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def live_settings() -> Settings:
    """The user's settings (a CoinGecko key is used if configured), real hosts, small scope.

    ``CRIPTOPIPE_BINANCE_BASE_URL`` is kept when it points at another real host (HTTP 451).
    """
    settings = load_settings()
    hosts = {
        f"{s}_base_url": LIVE_BASE_URLS[s]
        for s in SOURCES
        if not settings.base_url(s).startswith("https://")
    }
    return settings.model_copy(
        update={
            **hosts,
            "http_timeout_seconds": 20.0,
            "http_max_retries": 2,
            "fx_currencies": ("USD", "BRL"),
            "markets_top_n": 5,
            "candle_intervals": ("1h",),
        }
    )


@pytest.fixture
async def http(live_settings: Settings) -> AsyncIterator[HttpClient]:
    async with HttpClient(live_settings) as client:
        yield client


async def fetch_first(
    http: HttpClient, settings: Settings, source: str, endpoint: str
) -> tuple[Any, ParseResult]:
    """Plan the endpoint for BTC over the last two days, send its first request, parse it."""
    spec = get_endpoint(source, endpoint)
    now = datetime.now(UTC)
    ctx = PlanContext(settings, sim_assets("BTC"), now, now - timedelta(days=2), now, {})
    request = spec.plan(ctx)[0]
    response = await http.get_json(source, endpoint, request.path, request.params)
    assert response.status == 200
    parsed = spec.parse(request.path, request.params, response.data, response.fetched_at)
    assert parsed.records, f"{source}/{endpoint}: no records parsed"
    assert not parsed.rejected, [r.reason for r in parsed.rejected[:3]]
    return response.data, parsed


async def test_coingecko_global(http: HttpClient, live_settings: Settings) -> None:
    body, _ = await fetch_first(http, live_settings, "coingecko", "global")
    data = body["data"]
    assert isinstance(data["total_market_cap"]["usd"], int | float)
    assert "btc" in data["market_cap_percentage"] and isinstance(data["updated_at"], int)


async def test_binance_klines(http: HttpClient, live_settings: Settings) -> None:
    body, parsed = await fetch_first(http, live_settings, "binance", "klines")
    row = body[0]
    assert len(row) == 12 and isinstance(row[0], int) and isinstance(row[6], int)
    assert all(isinstance(v, str) for v in row[1:6])  # prices and volume as strings
    assert parsed.records[0].key[:2] == ("BTCUSDT", "1h")


async def test_kraken_ohlc(http: HttpClient, live_settings: Settings) -> None:
    body, _ = await fetch_first(http, live_settings, "kraken", "ohlc")
    assert body["error"] == [] and "last" in body["result"]
    (pair,) = [k for k in body["result"] if k != "last"]
    row = body["result"][pair][0]
    assert len(row) == 8 and isinstance(row[0], int) and all(isinstance(v, str) for v in row[1:7])


async def test_coinbase_candles(http: HttpClient, live_settings: Settings) -> None:
    body, _ = await fetch_first(http, live_settings, "coinbase", "candles")
    row = body[0]
    assert len(row) == 6 and all(isinstance(v, int | float) for v in row)
    assert body[0][0] > body[-1][0]  # newest first
    low, high, open_, close = row[1], row[2], row[3], row[4]
    assert low <= min(open_, close) and high >= max(open_, close)  # [time, low, high, open, close]


async def test_fear_greed(http: HttpClient, live_settings: Settings) -> None:
    body, _ = await fetch_first(http, live_settings, "fear_greed", "fng")
    item = body["data"][0]
    assert isinstance(item["value"], str) and isinstance(item["timestamp"], str)
    assert item["value_classification"]


async def test_fx_rates(http: HttpClient, live_settings: Settings) -> None:
    body, _ = await fetch_first(http, live_settings, "fx", "rates")
    assert body["base"] == "USD" and isinstance(body["rates"], dict)
    assert all(isinstance(day["BRL"], int | float) for day in body["rates"].values())


async def test_mercadobitcoin_tickers(http: HttpClient, live_settings: Settings) -> None:
    body, _ = await fetch_first(http, live_settings, "mercadobitcoin", "tickers")
    item = body[0]
    assert item["pair"] == "BTC-BRL" and isinstance(item["last"], str)
    assert isinstance(item["date"], int)
