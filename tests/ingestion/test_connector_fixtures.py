"""Every saved real API payload parses into the records and natural keys of the contract."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from ingestion.connectors.base import parse_page
from ingestion.connectors.registry import get_endpoint

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FETCHED_AT = datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def parse(source: str, endpoint: str, fixture: str, path: str, params: dict[str, str]) -> Any:
    body = json.loads((FIXTURES / source / fixture).read_text(encoding="utf-8"))
    return get_endpoint(source, endpoint).parse(path, params, body, FETCHED_AT)


def test_binance_klines_keep_the_12_field_rows_as_sent() -> None:
    result = parse(
        "binance",
        "klines",
        "klines_1d.json",
        "/api/v3/klines",
        {"symbol": "BTCUSDT", "interval": "1d"},
    )
    assert not result.rejected
    assert [r.key for r in result.records] == [
        ("BTCUSDT", "1d", datetime(2021, 1, 1, tzinfo=UTC)),
        ("BTCUSDT", "1d", datetime(2021, 1, 2, tzinfo=UTC)),
    ]
    assert result.records[0].record[1] == "28923.63000000"  # strings stay strings
    assert len(result.records[0].record) == 12


def test_coinbase_candles_newest_first_with_low_before_open() -> None:
    result = parse(
        "coinbase",
        "candles",
        "candles_86400.json",
        "/products/ETH-USDT/candles",
        {"granularity": "86400"},
    )
    assert len(result.records) == 5
    assert result.records[0].key == ("ETH-USDT", "1d", datetime(2022, 11, 24, tzinfo=UTC))
    assert result.records[0].record == [
        1669248000,
        1180.78,
        1217.2,
        1184.67,
        1197.62,
        20405.94567648,
    ]


def test_kraken_ohlc_uses_the_result_key_not_the_requested_pair() -> None:
    result = parse(
        "kraken", "ohlc", "ohlc_60.json", "/0/public/OHLC", {"pair": "XBTUSD", "interval": "60"}
    )
    assert len(result.records) == 10
    assert {r.key[0] for r in result.records} == {"XXBTZUSD"}
    assert result.records[-1].key[1:] == ("1h", datetime.fromtimestamp(1701813600, UTC))


def test_kraken_ticker_is_observed_at_the_fetch_second() -> None:
    result = parse("kraken", "ticker", "ticker.json", "/0/public/Ticker", {"pair": "XBTUSD"})
    (record,) = result.records
    assert record.key == ("XXBTZUSD", FETCHED_AT.replace(microsecond=0))
    assert record.record["c"] == ["44099.90000", "0.05668947"]


def test_coingecko_markets_keyed_by_coin_currency_and_update_time() -> None:
    result = parse(
        "coingecko", "markets", "coins_markets.json", "/coins/markets", {"vs_currency": "usd"}
    )
    assert len(result.records) == 6 and not result.rejected
    first = result.records[0]
    assert first.key == ("bitcoin", "usd", datetime(2024, 1, 1, 15, 12, 29, 21000, tzinfo=UTC))
    assert first.record["roi"] is None


def test_coingecko_global_keeps_the_data_object() -> None:
    result = parse("coingecko", "global", "global.json", "/global", {})
    (record,) = result.records
    assert record.record["market_cap_percentage"]["btc"] > 0
    assert record.key[0].year == 2022


def test_fear_greed_values_are_strings_keyed_by_day() -> None:
    result = parse("fear_greed", "fng", "fng.json", "/fng/", {"limit": "2"})
    assert [r.key for r in result.records] == [(date(2026, 4, 27),), (date(2026, 4, 26),)]
    assert result.records[0].record["value"] == "47"


def test_fx_latest_is_unpivoted_into_one_rate_per_record() -> None:
    result = parse("fx", "rates", "latest.json", "/latest", {"from": "EUR", "to": "USD"})
    (record,) = result.records
    assert record.key == ("EUR", "USD", date(2024, 5, 3))
    assert record.record == {"date": "2024-05-03", "base": "EUR", "quote": "USD", "rate": 1.0765}


def test_mercadobitcoin_candles_zip_the_parallel_arrays() -> None:
    result = parse(
        "mercadobitcoin",
        "candles",
        "candles_1h.json",
        "/candles",
        {"symbol": "BTC-BRL", "resolution": "1h", "from": "0", "to": "0"},
    )
    assert [r.record["c"] for r in result.records] == ["341000", "342000", "343000"]
    assert result.records[0].key == ("BTC-BRL", "1h", datetime.fromtimestamp(1703808000, UTC))


def test_mercadobitcoin_tickers_keyed_by_pair_and_date() -> None:
    result = parse("mercadobitcoin", "tickers", "tickers.json", "/tickers", {"symbols": "BTC-BRL"})
    (record,) = result.records
    assert record.key == ("BTC-BRL", datetime.fromtimestamp(1699999999, UTC))


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ([1609459200000, "abc", "1", "1", "1", "1"], "open 'abc' is not numeric"),
        ([1609459200000, None, "1", "1", "1", "1"], "open is None, not a number"),
        ([99999999999999999, "1", "1", "1", "1", "1"], "impossible timestamp"),
        (["x", "1", "1", "1", "1", "1"], "timestamp 'x' is not a number"),
        ({"not": "a row"}, "not an array"),
    ],
)
def test_invalid_records_are_rejected_with_a_reason(row: Any, reason: str) -> None:
    spec = get_endpoint("binance", "klines")
    result = spec.parse(
        "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1h"}, [row], FETCHED_AT
    )
    assert not result.records
    (rejected,) = result.rejected
    assert reason in rejected.reason
    assert rejected.record == row


def test_a_missing_key_is_rejected() -> None:
    spec = get_endpoint("mercadobitcoin", "tickers")
    result = spec.parse("/tickers", {}, [{"last": "1", "date": 1699999999}], FETCHED_AT)
    assert "missing key pair" in result.rejected[0].reason


def test_minute_candles_of_the_real_samples_get_criptopipe_labels() -> None:
    binance = parse(
        "binance",
        "klines",
        "klines_1m.json",
        "/api/v3/klines",
        {"symbol": "ETHBTC", "interval": "1m"},
    )
    assert not binance.rejected and len(binance.records) == 10
    assert binance.records[0].key == ("ETHBTC", "1m", datetime.fromtimestamp(1750477740, UTC))
    assert binance.records[0].record[5] == "0.00000000"  # a minute without trades is a row
    for granularity, label in (("60", "1m"), ("300", "5m")):
        coinbase = parse(
            "coinbase",
            "candles",
            f"candles_{granularity}.json",
            "/products/BTC-USD/candles",
            {"granularity": granularity},
        )
        assert not coinbase.rejected and len(coinbase.records) == 10
        assert {r.key[1] for r in coinbase.records} == {label}
    unknown = get_endpoint("coinbase", "candles")
    page = parse_page(
        unknown, "/products/BTC-USD/candles", {"granularity": "21600"}, [], FETCHED_AT
    )
    assert (
        page.error is not None and "granularity '21600' is not one criptopipe loads" in page.error
    )
