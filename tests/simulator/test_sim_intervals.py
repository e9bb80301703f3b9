"""Minute to daily candles: every exchange serves the intervals it really has, in its own
format, and a coarser candle is the roll-up of the finer ones (as real exchanges do)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from simhelpers import NOW, Http, assert_shape, get_json, sample

from ingestion.simulator import RunningSimulator

HOUR_START = int((NOW - timedelta(hours=3)).replace(minute=0, second=0).timestamp())


def _rollup(rows: list[tuple[float, ...]]) -> tuple[float, ...]:
    """(open, high, low, close, volume) of consecutive rows of (open, high, low, close, volume)."""
    return (
        rows[0][0],
        max(r[1] for r in rows),
        min(r[2] for r in rows),
        rows[-1][3],
        sum(r[4] for r in rows),
    )


def _same(rolled: list[tuple[float, ...]], served: list[tuple[float, ...]]) -> None:
    """OHLC exactly; volume up to the exchange's 8-decimal rounding of each candle."""
    assert [r[:4] for r in rolled] == [s[:4] for s in served]
    assert [r[4] for r in rolled] == pytest.approx([s[4] for s in served], abs=1e-6)


async def _binance(http: Http, sim: RunningSimulator, interval: str, n: int) -> list[tuple]:
    status, rows = await get_json(
        http,
        sim.base_urls["binance"] + "/api/v3/klines",
        symbol="BTCUSDT",
        interval=interval,
        startTime=str(HOUR_START * 1000),
        limit=str(n),
    )
    assert status == 200 and len(rows) == n, rows
    assert_shape(sample("binance/klines_1m.json"), rows)
    return [tuple(map(float, r[1:6])) for r in rows]


async def test_binance_serves_every_interval_and_they_roll_up(
    sim: RunningSimulator, http: Http
) -> None:
    minutes = await _binance(http, sim, "1m", 120)
    fives = await _binance(http, sim, "5m", 24)
    fifteens = await _binance(http, sim, "15m", 8)
    (hour, _) = await _binance(http, sim, "1h", 2)
    _same([_rollup(minutes[i : i + 5]) for i in range(0, 120, 5)], fives)
    _same([_rollup(minutes[i : i + 15]) for i in range(0, 120, 15)], fifteens)
    _same([_rollup(minutes[:60])], [hour])
    for o, h, low, c, v in minutes:
        assert low <= min(o, c) <= max(o, c) <= h and v > 0
    status, body = await get_json(
        http, sim.base_urls["binance"] + "/api/v3/klines", symbol="BTCUSDT", interval="2h"
    )
    assert status == 400 and body == {"code": -1120, "msg": "Invalid interval."}


async def test_kraken_coinbase_and_mercadobitcoin_minutes(
    sim: RunningSimulator, http: Http
) -> None:
    status, kraken = await get_json(
        http, sim.base_urls["kraken"] + "/0/public/OHLC", pair="XBTUSD", interval="1"
    )
    assert status == 200
    assert_shape(sample("kraken/ohlc_60.json"), kraken)
    rows = kraken["result"]["XXBTZUSD"]
    assert len(rows) == 720 and rows[1][0] - rows[0][0] == 60  # its last 720 minutes
    status, coinbase = await get_json(
        http, sim.base_urls["coinbase"] + "/products/BTC-USD/candles", granularity="60"
    )
    assert status == 200 and len(coinbase) == 300
    assert_shape(sample("coinbase/candles_60.json"), coinbase)
    assert coinbase[0][0] - coinbase[1][0] == 60  # newest first
    status, four_hours = await get_json(
        http, sim.base_urls["coinbase"] + "/products/BTC-USD/candles", granularity="14400"
    )
    assert status == 400 and four_hours == {"message": "Unsupported granularity"}
    to = int(NOW.timestamp())
    status, mb = await get_json(
        http,
        sim.base_urls["mercadobitcoin"] + "/candles",
        symbol="BTC-BRL",
        resolution="1m",
        to=str(to),
        countback="30",
    )
    assert status == 200
    assert_shape(sample("mercadobitcoin/candles_1h.json"), mb)
    assert len(mb["t"]) == 30 and mb["t"][1] - mb["t"][0] == 60
    status, mb_5m = await get_json(
        http,
        sim.base_urls["mercadobitcoin"] + "/candles",
        symbol="BTC-BRL",
        resolution="5m",
        to=str(to),
    )
    assert status == 400 and mb_5m["code"] == "API|INVALID_PARAMETER"
