"""What each connector asks for: paths, params and pages by the API's cap."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ingestion.connectors.base import PlanContext, PlannedRequest
from ingestion.connectors.registry import REGISTRY, get_endpoint, select
from ingestion.settings import Settings, load_settings
from ingestion.simulator.resolved import sim_assets

NOW = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


def plan(
    source: str,
    endpoint: str,
    *,
    assets: tuple[str, ...] = ("BTC",),
    days: float = 1,
    cursors: dict[tuple[str, ...], datetime] | None = None,
    backfill: bool = True,
    settings: Settings | None = None,
) -> tuple[list[PlannedRequest], list[str]]:
    ctx = PlanContext(
        settings or load_settings(candle_intervals=("1h",)),
        sim_assets(*assets),
        NOW,
        NOW - timedelta(days=days) if backfill else None,
        NOW if backfill else None,
        cursors or {},
    )
    return get_endpoint(source, endpoint).plan(ctx), ctx.notes


def test_registry_covers_every_raw_table_once() -> None:
    names = [spec.raw_table.qualified_name for spec in REGISTRY]
    assert len(names) == len(set(names)) == 17
    assert {s.name for s in select(["binance"])} == {
        "binance/klines",
        "binance/ticker_24hr",
        "binance/exchange_info",
    }
    assert [s.name for s in select(None, ["ohlc"])] == ["kraken/ohlc"]
    candles = {s.name for s in REGISTRY if s.is_time_windowed}
    assert {
        "binance/klines",
        "kraken/ohlc",
        "coinbase/candles",
        "mercadobitcoin/candles",
    } <= candles
    assert "coingecko/markets" not in candles


def test_binance_pages_by_1000_candles_in_ms() -> None:
    requests, _ = plan("binance", "klines", days=100)  # 2400 hourly candles + the open one
    assert len(requests) == 3
    first = requests[0]
    assert first.path == "/api/v3/klines"
    assert first.params["symbol"] == "BTCUSDT" and first.params["limit"] == "1000"
    start = int(first.params["startTime"])
    assert int(first.params["endTime"]) == start + 1000 * 3_600_000 - 1
    assert int(requests[1].params["startTime"]) == start + 1000 * 3_600_000
    assert int(requests[-1].params["endTime"]) >= int((NOW.timestamp() - 1) * 1000)


def test_coinbase_pages_by_300_candles_with_iso_times() -> None:
    requests, _ = plan("coinbase", "candles", days=30)  # 721 hourly candles
    assert len(requests) == 3
    assert requests[0].path == "/products/BTC-USD/candles"
    assert requests[0].params["granularity"] == "3600"
    start = datetime.fromisoformat(requests[0].params["start"])
    end = datetime.fromisoformat(requests[0].params["end"])
    assert (end - start) == timedelta(hours=299)


def test_kraken_reports_history_it_cannot_serve() -> None:
    requests, notes = plan("kraken", "ohlc", days=60)
    (request,) = requests
    assert request.params["pair"] == "XBTUSD" and request.params["interval"] == "60"
    assert any("only the last 720" in note for note in notes)


def test_coingecko_history_capped_at_365_days() -> None:
    requests, notes = plan("coingecko", "market_chart", days=500)
    (request,) = requests
    assert request.path == "/coins/bitcoin/market_chart"
    assert request.params["days"] == "365"
    assert any("365 days" in note for note in notes)


def test_mercadobitcoin_candles_from_to_in_seconds() -> None:
    requests, _ = plan("mercadobitcoin", "candles", days=2)
    (request,) = requests
    assert request.params["symbol"] == "BTC-BRL" and request.params["resolution"] == "1h"
    assert int(request.params["to"]) - int(request.params["from"]) == 48 * 3600


def test_unlisted_assets_are_skipped_and_named() -> None:
    requests, notes = plan("coinbase", "candles", assets=("BTC", "BNB"))
    assert {r.params["granularity"] for r in requests} == {"3600"}
    assert all("BTC-USD" in r.path for r in requests)
    assert notes == ["not listed on coinbase, skipped: BNB"]


def test_incremental_window_starts_at_the_newest_loaded_candle() -> None:
    newest = NOW - timedelta(hours=5, minutes=30)
    requests, _ = plan(
        "binance", "klines", backfill=False, cursors={("BTCUSDT", "1h"): newest.replace(minute=0)}
    )
    (request,) = requests
    assert int(request.params["startTime"]) == int(newest.replace(minute=0).timestamp() * 1000)


def test_snapshots_ask_for_every_tracked_symbol_at_once() -> None:
    (ticker,), _ = plan("binance", "ticker_24hr", assets=("BTC", "ETH"))
    assert json.loads(ticker.params["symbols"]) == ["BTCUSDT", "ETHUSDT"]
    (fx,), _ = plan("fx", "rates", days=10)
    assert fx.path == "/2025-02-19..2025-03-01"
    assert fx.params == {"from": "USD", "to": "BRL,EUR"}


ALL_INTERVALS = ("1m", "5m", "15m", "1h", "4h", "1d")


def _asked(source: str, endpoint: str, param: str) -> tuple[dict[str, int], list[str]]:
    """How many requests each interval (the API's spelling) gets over one day, and notes."""
    requests, notes = plan(
        source, endpoint, days=1, settings=load_settings(candle_intervals=ALL_INTERVALS)
    )
    asked: dict[str, int] = {}
    for request in requests:
        asked[request.params[param]] = asked.get(request.params[param], 0) + 1
    return asked, notes


def test_each_exchange_asks_for_the_intervals_it_serves_in_its_own_spelling() -> None:
    # One day of 1m candles is 1441 (the open one too): Binance pages by 1000,
    # Coinbase by 300, Mercado Bitcoin by 1000; Kraken has one call per interval.
    assert _asked("binance", "klines", "interval") == (
        {"1m": 2, "5m": 1, "15m": 1, "1h": 1, "4h": 1, "1d": 1},
        [],
    )
    kraken, kraken_notes = _asked("kraken", "ohlc", "interval")
    assert kraken == {"1": 1, "5": 1, "15": 1, "60": 1, "240": 1, "1440": 1}
    assert any("1m: Kraken serves only the last 720" in note for note in kraken_notes)
    coinbase, coinbase_notes = _asked("coinbase", "candles", "granularity")
    assert coinbase == {"60": 5, "300": 1, "900": 1, "3600": 1, "86400": 1}
    assert coinbase_notes == [
        "coinbase serves no 4h candles: the candle marts roll them up from the finest "
        "interval loaded"
    ]
    mb, mb_notes = _asked("mercadobitcoin", "candles", "resolution")
    assert mb == {"1m": 2, "15m": 1, "1h": 1, "1d": 1}
    assert any("mercadobitcoin serves no 5m, 4h candles" in note for note in mb_notes)


def test_minute_pages_span_exactly_the_page_cap() -> None:
    settings = load_settings(candle_intervals=("1m",))
    binance = plan("binance", "klines", days=1, settings=settings)[0][0]
    span_ms = int(binance.params["endTime"]) - int(binance.params["startTime"]) + 1
    assert span_ms == 1000 * 60_000
    coinbase = plan("coinbase", "candles", days=1, settings=settings)[0][0]
    start = datetime.fromisoformat(coinbase.params["start"])
    end = datetime.fromisoformat(coinbase.params["end"])
    assert end - start == timedelta(minutes=299)


def test_what_an_endpoint_plans_from_the_assets_is_declared() -> None:
    # A run resolves the assets (from the listings) before it plans an endpoint that needs
    # them, and plans the others at once: each endpoint's needs_assets must say which.
    for spec in REGISTRY:
        with_assets, _ = plan(spec.source, spec.endpoint, assets=("BTC", "ETH"))
        without, _ = plan(spec.source, spec.endpoint, assets=())
        if spec.needs_assets:
            assert with_assets and not without, spec.name
        else:
            assert without == with_assets and without, spec.name
