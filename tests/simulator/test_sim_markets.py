"""The synthetic markets: deterministic, consistent across exchanges, with a live open candle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from simhelpers import NOW, Http, get_json

from ingestion.simulator import (
    PriceDivergence,
    RunningSimulator,
    SimulatorConfig,
    compute_candle,
    run_simulator,
)

NOW_S = int(NOW.timestamp())
HOUR = timedelta(hours=1)
PATHS = (
    ("binance", "/api/v3/klines?symbol=ETHUSDT&interval=1h&limit=1000"),
    ("kraken", "/0/public/OHLC?pair=ETHUSD&interval=1440"),
    ("coinbase", "/products/SOL-USD/candles?granularity=3600"),
    ("mercadobitcoin", f"/candles?symbol=BTC-BRL&resolution=1d&to={NOW_S}&countback=100"),
    ("coingecko", "/coins/markets?vs_currency=usd"),
    ("fear_greed", "/fng/?limit=30"),
    ("fx", "/2024-01-01..2024-02-01?from=USD&to=BRL"),
)


async def _bodies(seed: int, http: Http) -> list[bytes]:
    out = []
    async with run_simulator(SimulatorConfig(seed=seed, now=NOW)) as sim:
        for source, path in PATHS:
            async with http.get(sim.base_urls[source] + path) as resp:
                assert resp.status == 200
                out.append(await resp.read())
    return out


async def test_same_seed_same_bytes_other_seed_other_data(http: Http) -> None:
    first, again, other = await _bodies(7, http), await _bodies(7, http), await _bodies(8, http)
    assert first == again
    assert all(a != b for a, b in zip(first, other, strict=True))


async def test_ohlc_consistent_everywhere(sim: RunningSimulator, http: Http) -> None:
    b = sim.base_urls
    _, klines = await get_json(
        http, b["binance"] + "/api/v3/klines", symbol="DOGEUSDT", interval="1h", limit="1000"
    )
    assert klines
    for row in klines:
        o, h, low, c, v = (float(x) for x in row[1:6])
        assert low <= min(o, c) <= max(o, c) <= h and v >= 0 and low > 0
    _, candles = await get_json(
        http, b["coinbase"] + "/products/BTC-USD/candles", granularity="86400"
    )
    assert candles
    for _t, low, h, o, c, v in candles:
        assert low <= min(o, c) <= max(o, c) <= h and v >= 0
    _, ohlc = await get_json(http, b["kraken"] + "/0/public/OHLC", pair="XDGUSD", interval="60")
    assert ohlc["result"]["XDGUSD"]
    for row in ohlc["result"]["XDGUSD"]:
        o, h, low, c, vwap = (float(x) for x in row[1:6])
        assert low <= min(o, c) <= max(o, c) <= h and low <= vwap <= h


async def test_exchanges_agree_within_a_small_spread(sim: RunningSimulator, http: Http) -> None:
    b = sim.base_urls
    _, bn = await get_json(
        http, b["binance"] + "/api/v3/klines", symbol="BTCUSDT", interval="1h", limit="200"
    )
    _, cb = await get_json(http, b["coinbase"] + "/products/BTC-USD/candles", granularity="3600")
    _, kr = await get_json(http, b["kraken"] + "/0/public/OHLC", pair="XBTUSD", interval="60")
    coinbase = {r[0] * 1000: r[4] for r in cb}
    kraken = {r[0] * 1000: float(r[4]) for r in kr["result"]["XXBTZUSD"]}
    for row in bn:
        close = float(row[4])
        assert abs(coinbase[row[0]] / close - 1) < 0.005
        assert abs(kraken[row[0]] / close - 1) < 0.005
    _, stable = await get_json(
        http, b["kraken"] + "/0/public/OHLC", pair="USDTUSD", interval="1440"
    )
    assert all(0.99 < float(r[4]) < 1.01 for r in stable["result"]["USDTZUSD"])
    _, brl = await get_json(http, b["mercadobitcoin"] + "/tickers", symbols="BTC-BRL")
    _, fx = await get_json(http, b["fx"] + "/latest", **{"from": "USD", "to": "BRL"})
    premium = float(brl[0]["last"]) / (coinbase[max(coinbase)] * fx["rates"]["BRL"]) - 1
    assert 0.0 < premium < 0.03


async def test_open_candle_moves_with_the_clock_then_freezes(http: Http) -> None:
    hour = datetime(2024, 3, 5, 12, tzinfo=UTC)
    open_ms = int(hour.timestamp() * 1000)
    params = {"symbol": "BTCUSDT", "interval": "1h", "startTime": str(open_ms)}
    async with run_simulator(SimulatorConfig(now=hour + timedelta(minutes=10))) as sim:
        url = sim.base_urls["binance"] + "/api/v3/klines"
        seen = []
        for minutes in (10, 20, 40, 59):
            sim.set_now(hour + timedelta(minutes=minutes))
            _, rows = await get_json(http, url, **params)
            assert len(rows) == 1
            seen.append(rows[0])
        assert len({tuple(r) for r in seen}) == 4  # it changes while open
        assert [float(r[5]) for r in seen] == sorted(float(r[5]) for r in seen)  # volume grows
        assert all(r[1] == seen[0][1] for r in seen)  # the open never changes
        closed = []
        for minutes in (60, 75, 200):
            sim.set_now(hour + timedelta(minutes=minutes))
            _, rows = await get_json(http, url, **params)
            closed.append(rows[0])
        assert closed[0] == closed[1] == closed[2]  # frozen once closed
        assert closed[0] != seen[-1]
        expected = compute_candle("binance", "BTCUSDT", "1h", hour, seed=42)
        assert expected.is_closed and float(closed[0][4]) == expected.close
        assert float(closed[0][2]) == expected.high and float(closed[0][3]) == expected.low
        partial = compute_candle("binance", "BTCUSDT", "1h", hour, now=hour + timedelta(minutes=20))
        assert not partial.is_closed and float(seen[1][4]) == partial.close


async def test_daily_candle_aggregates_the_hourly_ones(sim: RunningSimulator, http: Http) -> None:
    url = sim.base_urls["binance"] + "/api/v3/klines"
    day = int(datetime(2024, 2, 1, tzinfo=UTC).timestamp() * 1000)
    _, hours = await get_json(
        http, url, symbol="ETHUSDT", interval="1h", startTime=str(day), limit="24"
    )
    _, days = await get_json(
        http, url, symbol="ETHUSDT", interval="1d", startTime=str(day), limit="1"
    )
    d = days[0]
    assert d[1] == hours[0][1] and d[4] == hours[-1][4]
    assert float(d[2]) == max(float(h[2]) for h in hours)
    assert float(d[3]) == min(float(h[3]) for h in hours)
    assert abs(float(d[5]) - sum(float(h[5]) for h in hours)) < 1e-3


async def test_price_divergence_moves_one_source_over_its_window(http: Http) -> None:
    # Kraken's BTC candles opening 09:00 and 10:00 are 300 bps dear, and so is the open
    # 12:00 candle; 11:00 and other exchanges are untouched; CoinGecko points likewise.
    day = datetime(2024, 3, 5, tzinfo=UTC)
    divergences = (
        PriceDivergence(
            "kraken", day + timedelta(hours=9), day + timedelta(hours=11), 300.0, asset="BTC"
        ),
        PriceDivergence("kraken", day + timedelta(hours=12), day + timedelta(hours=13), 300.0),
        PriceDivergence(
            "coingecko", day + timedelta(hours=10), day + timedelta(hours=11), -200.0, asset="BTC"
        ),
    )
    since = str(int((day + timedelta(hours=7)).timestamp()))  # Kraken: exclusive
    async with (
        run_simulator(SimulatorConfig(now=NOW)) as plain,
        run_simulator(SimulatorConfig(now=NOW, divergences=divergences)) as diverged,
    ):

        def ohlc(sim: RunningSimulator, pair: str) -> Any:
            return get_json(
                http,
                sim.base_urls["kraken"] + "/0/public/OHLC",
                pair=pair,
                interval="60",
                since=since,
            )

        (_, base), (_, moved) = await ohlc(plain, "XBTUSD"), await ohlc(diverged, "XBTUSD")
        base_rows, moved_rows = base["result"]["XXBTZUSD"], moved["result"]["XXBTZUSD"]
        assert [r[0] for r in base_rows] == [r[0] for r in moved_rows]
        ratios = {
            datetime.fromtimestamp(b[0], UTC).hour: float(m[4]) / float(b[4])
            for b, m in zip(base_rows, moved_rows, strict=True)
        }
        assert set(ratios) == {8, 9, 10, 11, 12}
        assert ratios[8] == ratios[11] == 1.0
        for hour in (9, 10, 12):  # 12:00 is the open candle at NOW
            assert abs(ratios[hour] - 1.03) < 1e-4
        (_, eth), (_, eth_moved) = await ohlc(plain, "ETHUSD"), await ohlc(diverged, "ETHUSD")
        assert eth["result"]["XETHZUSD"][:-1] == eth_moved["result"]["XETHZUSD"][:-1]
        assert eth["result"]["XETHZUSD"][-1] != eth_moved["result"]["XETHZUSD"][-1]

        def binance(sim: RunningSimulator) -> Any:
            return get_json(
                http,
                sim.base_urls["binance"] + "/api/v3/klines",
                symbol="BTCUSDT",
                interval="1h",
                startTime=since + "000",
            )

        assert (await binance(plain))[1] == (await binance(diverged))[1]

        def chart(sim: RunningSimulator) -> Any:
            return get_json(
                http,
                sim.base_urls["coingecko"] + "/coins/bitcoin/market_chart",
                vs_currency="usd",
                days="1",
            )

        (_, chart_base), (_, chart_moved) = await chart(plain), await chart(diverged)
        for b, m in zip(chart_base["prices"], chart_moved["prices"], strict=True):
            moment = datetime.fromtimestamp(b[0] / 1000, UTC)
            expected = (
                0.98 if day + timedelta(hours=10) <= moment < day + timedelta(hours=11) else 1.0
            )
            assert abs(m[1] / b[1] - expected) < 1e-9


async def test_a_divergence_reaches_the_coarser_candles_through_its_hours(http: Http) -> None:
    # Binance's BTC 20 % dear from 08:00 to 13:00 on a closed day, and from 09:00 to 11:00
    # on the open one (NOW is 12:30): each day's and 4 h candle is the rollup of the
    # diverged hours, as an exchange's own would be (an earlier simulator left them
    # undiverged, so the closed day's 1d candle disagreed with the rollup of its hours).
    closed_day, open_day = datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 3, 5, tzinfo=UTC)
    divergences = (
        PriceDivergence(
            "binance", closed_day + 8 * HOUR, closed_day + 13 * HOUR, 2000.0, asset="BTC"
        ),
        PriceDivergence("binance", open_day + 9 * HOUR, open_day + 11 * HOUR, 2000.0, asset="BTC"),
    )

    async def klines(sim: RunningSimulator, interval: str, start: datetime, limit: int) -> Any:
        start_ms = str(int(start.timestamp() * 1000))
        _, rows = await get_json(
            http,
            sim.base_urls["binance"] + "/api/v3/klines",
            symbol="BTCUSDT",
            interval=interval,
            startTime=start_ms,
            limit=str(limit),
        )
        return rows

    def rolled_up(rows: list[Any]) -> tuple[str, float, float, str]:
        return (
            rows[0][1],
            max(float(r[2]) for r in rows),
            min(float(r[3]) for r in rows),
            rows[-1][4],
        )

    async with (
        run_simulator(SimulatorConfig(now=NOW)) as plain,
        run_simulator(SimulatorConfig(now=NOW, divergences=divergences)) as diverged,
    ):
        for day, hours in ((closed_day, 24), (open_day, 13)):  # 13: 00:00 to the open 12:00
            hourly = await klines(diverged, "1h", day, hours)
            [daily] = await klines(diverged, "1d", day, 1)
            assert (daily[1], float(daily[2]), float(daily[3]), daily[4]) == rolled_up(hourly)
            [plain_daily] = await klines(plain, "1d", day, 1)
            assert float(daily[2]) > float(plain_daily[2]) * 1.1  # the dear hours' high
        four_hours = await klines(diverged, "4h", closed_day + 8 * HOUR, 2)
        hourly = await klines(diverged, "1h", closed_day + 8 * HOUR, 8)
        for k, candle in enumerate(four_hours):
            part = hourly[4 * k : 4 * k + 4]
            assert (candle[1], float(candle[2]), float(candle[3]), candle[4]) == rolled_up(part)
