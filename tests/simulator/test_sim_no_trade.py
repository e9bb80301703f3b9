"""Coinbase sends no candle for an interval without trades; the simulator leaves them out too.

The real endpoint omits such intervals (Binance sends zero-volume rows instead). The real
BTC-USD minutes in tests/fixtures/coinbase miss none: a liquid product trades every
minute. The simulator leaves out minutes of its thin products (``coinbase_no_trade_rate``,
the share for the thinnest), builds 5m and 15m candles from the minutes that traded and
omits one with none, deterministically by seed.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from simhelpers import NOW, Http, get_json

from ingestion.simulator import (
    PriceDivergence,
    RunningSimulator,
    SimulatorConfig,
    compute_candle,
    run_simulator,
)

DAY_START = datetime(2024, 3, 4, tzinfo=UTC)  # the day before NOW, all closed
MINUTES = 1440


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _candles(
    http: Http, sim: RunningSimulator, product: str, granularity: int, start: datetime, n: int
) -> list[list[Any]]:
    """``n`` intervals of ``granularity`` seconds from ``start``, in pages of 300, oldest first."""
    url = sim.base_urls["coinbase"] + f"/products/{product}/candles"
    rows: list[list[Any]] = []
    step = timedelta(seconds=granularity)
    for first in range(0, n, 300):
        last = min(first + 300, n) - 1
        status, page = await get_json(
            http,
            url,
            granularity=str(granularity),
            start=_iso(start + first * step),
            end=_iso(start + last * step),
        )
        assert status == 200, page
        assert len(page) <= last - first + 1  # never more rows than the window has intervals
        times = [r[0] for r in page]
        assert times == sorted(times, reverse=True)  # newest first, as ever
        lo, hi = (start + first * step).timestamp(), (start + last * step).timestamp()
        assert all(lo <= t <= hi for t in times)  # only the window asked for
        rows.extend(reversed(page))
    return rows


def _missing(rows: list[list[Any]], start: datetime, granularity: int, n: int) -> list[int]:
    have = {r[0] for r in rows}
    t0 = int(start.timestamp())
    return [t0 + k * granularity for k in range(n) if t0 + k * granularity not in have]


async def test_thin_products_miss_minutes_liquid_ones_and_other_exchanges_do_not(
    sim: RunningSimulator, http: Http
) -> None:
    thin = await _candles(http, sim, "LTC-USD", 60, DAY_START, MINUTES)
    missing = _missing(thin, DAY_START, 60, MINUTES)
    assert 0.02 * MINUTES < len(missing) < 0.10 * MINUTES  # about the default 5 %
    assert len({r[0] for r in thin}) == len(thin) == MINUTES - len(missing)  # no duplicates
    assert all(r[5] > 0 for r in thin)  # no zero-volume stand-ins
    assert (
        _missing(
            await _candles(http, sim, "BTC-USD", 60, DAY_START, MINUTES), DAY_START, 60, MINUTES
        )
        == []
    )
    # Hours and days always trade, on the thin product too.
    hours = await _candles(http, sim, "LTC-USD", 3600, DAY_START - timedelta(days=10), 24 * 10)
    assert _missing(hours, DAY_START - timedelta(days=10), 3600, 240) == []
    # Binance keeps its own behaviour: every minute comes back (none is without volume).
    _, klines = await get_json(
        http,
        sim.base_urls["binance"] + "/api/v3/klines",
        symbol="LTCUSDT",
        interval="1m",
        startTime=str(int(DAY_START.timestamp()) * 1000),
        limit="1000",
    )
    assert len(klines) == 1000
    assert all(b[0] - a[0] == 60_000 for a, b in itertools.pairwise(klines))


async def test_coarser_candles_are_the_minutes_that_traded(http: Http) -> None:
    config = SimulatorConfig(now=NOW, coinbase_no_trade_rate=0.6)  # a very thin market
    async with run_simulator(config) as sim:
        minutes = await _candles(http, sim, "LTC-USD", 60, DAY_START, 600)
        fives = await _candles(http, sim, "LTC-USD", 300, DAY_START, 120)
        fifteens = await _candles(http, sim, "LTC-USD", 900, DAY_START, 40)
        hours = await _candles(http, sim, "LTC-USD", 3600, DAY_START, 10)
    assert 0.45 * 600 < 600 - len(minutes) < 0.7 * 600
    for coarse, seconds in ((fives, 300), (fifteens, 900), (hours, 3600)):
        buckets: dict[int, list[list[Any]]] = {}
        for row in minutes:
            buckets.setdefault(row[0] // seconds * seconds, []).append(row)
        # a coarse candle exactly where some minute of it traded ...
        assert [r[0] for r in coarse] == sorted(buckets), seconds
        for row in coarse:  # ... built from those minutes: [time, low, high, open, close, vol]
            inside = buckets[row[0]]
            assert row[1] == min(r[1] for r in inside)
            assert row[2] == max(r[2] for r in inside)
            assert row[3] == inside[0][3] and row[4] == inside[-1][4]
            assert row[5] == pytest.approx(sum(r[5] for r in inside), rel=1e-6, abs=1e-7)
    assert len(fives) < 120  # at this rate whole five minutes go without a trade
    assert len(hours) == 10  # an hour always trades (its open, close, high and low did)


async def test_gaps_are_the_same_for_the_same_seed_and_can_be_turned_off(http: Http) -> None:
    async def body(config: SimulatorConfig, product: str = "LINK-USD") -> bytes:
        async with run_simulator(config) as sim:
            url = sim.base_urls["coinbase"] + f"/products/{product}/candles"
            params = {
                "granularity": "60",
                "start": _iso(DAY_START),
                "end": _iso(DAY_START + timedelta(minutes=299)),
            }
            async with http.get(url, params=params) as response:
                return await response.read()

    first = await body(SimulatorConfig(now=NOW))
    assert first == await body(SimulatorConfig(now=NOW))  # the same bytes run to run
    assert len(first.split(b"], [")) < 300
    other_seed = await body(SimulatorConfig(now=NOW, seed=43))
    assert other_seed != first
    off = await body(SimulatorConfig(now=NOW, coinbase_no_trade_rate=0.0))
    assert len(off.split(b"], [")) == 300  # every minute, as before gaps were simulated
    with pytest.raises(ValueError, match="coinbase_no_trade_rate"):
        SimulatorConfig(coinbase_no_trade_rate=1.0)


async def test_the_newest_page_and_the_ground_truth_hold_only_traded_minutes(
    http: aiohttp.ClientSession,
) -> None:
    # A divergence on Coinbase over the hour before NOW takes the rendering path that
    # re-renders diverged candles: its gaps must be the same as without it.
    divergence = PriceDivergence("coinbase", NOW - timedelta(hours=1), NOW, 200.0, asset="LTC")
    pages = []
    for divergences in ((), (divergence,)):
        config = SimulatorConfig(now=NOW, coinbase_no_trade_rate=0.5, divergences=divergences)
        async with run_simulator(config) as sim:
            url = sim.base_urls["coinbase"] + "/products/LTC-USD/candles"
            status, newest = await get_json(http, url, granularity="60")  # no start and end
            assert status == 200
            truth = sim.state.ground_truth("coinbase", "/products/{id}/candles")
        pages.append(newest)
        now_s = int(NOW.timestamp())
        open_minute = now_s // 60 * 60
        times = [r[0] for r in newest]
        assert all(open_minute - 299 * 60 <= t <= open_minute for t in times)  # 300 intervals
        assert len(times) < 300
        # What the simulator says it served is what it served: no record for a gap.
        assert {k[-1] for k in truth} == set(times)
        assert all(r[5] > 0 for r in newest)  # the open minute only once it traded
    plain, diverged = pages
    assert [r[0] for r in plain] == [r[0] for r in diverged]
    assert [r[5] for r in plain] == [r[5] for r in diverged]  # volumes untouched
    assert plain != diverged  # the prices moved


async def test_compute_candle_knows_the_minutes_without_trades(
    sim: RunningSimulator, http: Http
) -> None:
    rows = await _candles(http, sim, "LINK-USD", 60, DAY_START, 300)
    served = {r[0]: r for r in rows}
    t0 = int(DAY_START.timestamp())
    missing = [t for t in range(t0, t0 + 300 * 60, 60) if t not in served]
    assert missing
    for t in range(t0, t0 + 300 * 60, 60):
        if t in missing:
            with pytest.raises(ValueError, match="no trade"):
                compute_candle("coinbase", "LINK-USD", "1m", t)
            continue
        candle = compute_candle("coinbase", "LINK-USD", "1m", t)
        row = [candle.open_time, candle.low, candle.high, candle.open, candle.close]
        assert row == served[t][:5] and candle.volume == pytest.approx(served[t][5])
    # Without gaps (rate 0) every minute has its candle, as on the other exchanges.
    assert compute_candle("coinbase", "LINK-USD", "1m", missing[0], no_trade_rate=0.0)
