"""Page caps, history limits and window semantics of each candle endpoint."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from simhelpers import NOW, Http, get_json

from ingestion.simulator import RunningSimulator

NOW_S = int(NOW.timestamp())
HOUR_OPEN = NOW_S // 3600 * 3600  # the open hourly candle


async def test_binance_default_500_cap_1000_and_time_window(
    sim: RunningSimulator, http: Http
) -> None:
    url = sim.base_urls["binance"] + "/api/v3/klines"
    _, rows = await get_json(http, url, symbol="BTCUSDT", interval="1h")
    assert len(rows) == 500 and rows[-1][0] == HOUR_OPEN * 1000  # newest, the open one
    _, rows = await get_json(http, url, symbol="BTCUSDT", interval="1h", limit="5000")
    assert len(rows) == 1000
    start = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp() * 1000)
    _, rows = await get_json(
        http, url, symbol="BTCUSDT", interval="1h", limit="1000", startTime=str(start + 1)
    )
    assert rows[0][0] == start + 3_600_000 and len(rows) == 1000  # oldest first from start
    assert all(b[0] - a[0] == 3_600_000 for a, b in itertools.pairwise(rows))
    _, rows = await get_json(
        http,
        url,
        symbol="BTCUSDT",
        interval="1h",
        startTime=str(start),
        endTime=str(start + 5 * 3_600_000),
    )
    assert [r[0] for r in rows] == [start + k * 3_600_000 for k in range(6)]  # inclusive
    before = int(datetime(2021, 12, 31, tzinfo=UTC).timestamp() * 1000)
    _, rows = await get_json(
        http, url, symbol="BTCUSDT", interval="1d", startTime=str(before), limit="3"
    )
    assert rows[0][0] == int(datetime(2022, 1, 1, tzinfo=UTC).timestamp() * 1000)  # listing
    _, rows = await get_json(
        http, url, symbol="BTCUSDT", interval="1h", startTime=str((NOW_S + 86400) * 1000)
    )
    assert rows == []  # nothing from the future


async def test_coinbase_300_cap_and_range_error(sim: RunningSimulator, http: Http) -> None:
    url = sim.base_urls["coinbase"] + "/products/BTC-USD/candles"
    start = datetime(2023, 1, 1, tzinfo=UTC)
    end = datetime(2023, 1, 13, 12, tzinfo=UTC)  # 300 hours
    status, rows = await get_json(
        http, url, granularity="3600", start=start.isoformat(), end=end.isoformat()
    )
    assert status == 200 and len(rows) == 300
    assert rows[0][0] == int(end.timestamp()) and rows[-1][0] == int(start.timestamp()) + 3600
    status, body = await get_json(
        http,
        url,
        granularity="3600",
        start=start.isoformat(),
        end=datetime(2023, 1, 13, 13, tzinfo=UTC).isoformat(),
    )
    assert status == 400
    assert body == {
        "message": "granularity too small for the requested time range. Count of "
        "aggregations requested exceeds 300"
    }
    status, body = await get_json(http, url, granularity="120")
    assert status == 400


async def test_kraken_720_rows_whatever_since_says(sim: RunningSimulator, http: Http) -> None:
    url = sim.base_urls["kraken"] + "/0/public/OHLC"
    _, body = await get_json(http, url, pair="XBTUSD", interval="60", since="0")
    rows = body["result"]["XXBTZUSD"]
    assert len(rows) == 720
    assert rows[-1][0] == HOUR_OPEN and body["result"]["last"] == HOUR_OPEN - 3600
    _, body = await get_json(
        http, url, pair="XXBTZUSD", interval="60", since=str(HOUR_OPEN - 3 * 3600)
    )
    times = [r[0] for r in body["result"]["XXBTZUSD"]]
    assert times == [HOUR_OPEN - 2 * 3600, HOUR_OPEN - 3600, HOUR_OPEN]
    _, body = await get_json(
        http, url, pair="XBTUSD", interval="60", since=str(body["result"]["last"])
    )
    assert [r[0] for r in body["result"]["XXBTZUSD"]] == [HOUR_OPEN]  # only the open frame
    _, body = await get_json(http, url, pair="XBTUSD", interval="1440")
    assert len(body["result"]["XXBTZUSD"]) == 720  # 794 days since 2022-01-01, 720 served


async def test_coingecko_days_and_hourly_granularity(sim: RunningSimulator, http: Http) -> None:
    url = sim.base_urls["coingecko"] + "/coins/ethereum/market_chart"
    _, body = await get_json(http, url, vs_currency="usd", days="2")
    stamps = [p[0] for p in body["prices"]]
    assert stamps[-1] == NOW_S * 1000 and stamps[1] - stamps[0] == 3_600_000
    _, brl = await get_json(http, url, vs_currency="brl", days="2")
    assert 3 < brl["prices"][-1][1] / body["prices"][-1][1] < 8  # BRL per USD
