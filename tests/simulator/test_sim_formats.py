"""Every endpoint answers in the shape of the real API (compared with saved real responses)."""

from __future__ import annotations

from simhelpers import Http, assert_shape, get_json, sample

from ingestion.simulator import RunningSimulator


async def test_binance_klines_match_the_real_rows(sim: RunningSimulator, http: Http) -> None:
    url = sim.base_urls["binance"] + "/api/v3/klines"
    async with http.get(url, params={"symbol": "BTCUSDT", "interval": "1d", "limit": "5"}) as resp:
        assert resp.status == 200
        assert resp.headers["X-MBX-USED-WEIGHT-1M"].isdigit()
        rows = await resp.json()
    assert len(rows) == 5
    assert_shape(sample("binance/klines_1d.json"), rows)
    assert all(r[6] == r[0] + 86_400_000 - 1 and r[11] == "0" for r in rows)


async def test_binance_ticker_single_list_and_all(sim: RunningSimulator, http: Http) -> None:
    url = sim.base_urls["binance"] + "/api/v3/ticker/24hr"
    status, one = await get_json(http, url, symbol="ETHUSDT")
    assert status == 200 and one["symbol"] == "ETHUSDT"
    assert isinstance(one["lastPrice"], str) and isinstance(one["count"], int)
    status, some = await get_json(http, url, symbols='["BTCUSDT","SOLUSDT"]')
    assert [t["symbol"] for t in some] == ["BTCUSDT", "SOLUSDT"]
    assert list(some[0]) == list(one)
    status, every = await get_json(http, url)
    assert {t["symbol"] for t in every} >= {"BTCUSDT", "BNBUSDT", "USDCUSDT"}
    assert "USDTUSDT" not in {t["symbol"] for t in every}


async def test_kraken_ohlc_and_ticker_shapes(sim: RunningSimulator, http: Http) -> None:
    base = sim.base_urls["kraken"]
    status, body = await get_json(http, base + "/0/public/OHLC", pair="XBTUSD", interval="60")
    assert status == 200
    assert_shape(sample("kraken/ohlc_60.json"), body)
    assert list(body["result"]) == ["XXBTZUSD", "last"]
    status, ticker = await get_json(http, base + "/0/public/Ticker", pair="XBTUSD")
    assert_shape(sample("kraken/ticker.json"), ticker)
    assert list(ticker["result"]) == ["XXBTZUSD"]


async def test_coinbase_candles_and_ticker(sim: RunningSimulator, http: Http) -> None:
    base = sim.base_urls["coinbase"]
    status, rows = await get_json(http, base + "/products/ETH-USD/candles", granularity="86400")
    assert status == 200 and len(rows) == 300
    assert_shape(sample("coinbase/candles_86400.json"), rows)
    assert [r[0] for r in rows] == sorted((r[0] for r in rows), reverse=True)  # newest first
    status, ticker = await get_json(http, base + "/products/BTC-USD/ticker")
    assert status == 200
    assert list(ticker)[:7] == ["ask", "bid", "volume", "trade_id", "price", "size", "time"]
    assert isinstance(ticker["price"], str) and isinstance(ticker["trade_id"], int)


async def test_coingecko_markets_global_and_chart(sim: RunningSimulator, http: Http) -> None:
    base = sim.base_urls["coingecko"]
    status, coins = await get_json(http, base + "/coins/markets", vs_currency="usd")
    assert status == 200 and coins[0]["id"] == "bitcoin"
    assert_shape(sample("coingecko/coins_markets.json"), coins)
    caps = [c["market_cap"] for c in coins]
    assert caps == sorted(caps, reverse=True)
    assert [c["market_cap_rank"] for c in coins] == list(range(1, len(coins) + 1))
    status, page = await get_json(
        http,
        base + "/coins/markets",
        vs_currency="usd",
        ids="ethereum,dogecoin",
        per_page="1",
        page="2",
        price_change_percentage="1h,7d",
    )
    assert [c["id"] for c in page] == ["dogecoin"]
    assert list(page[0])[-2:] == [
        "price_change_percentage_1h_in_currency",
        "price_change_percentage_7d_in_currency",
    ]
    status, glob = await get_json(http, base + "/global")
    assert_shape(sample("coingecko/global.json"), glob)
    assert 30 < glob["data"]["market_cap_percentage"]["btc"] < 80
    status, chart = await get_json(
        http, base + "/coins/bitcoin/market_chart", vs_currency="usd", days="30", interval="daily"
    )
    assert list(chart) == ["prices", "market_caps", "total_volumes"]
    assert len(chart["prices"]) == 31  # 30 midnights and the current price
    assert all(len(p) == 2 and isinstance(p[0], int) for p in chart["prices"])


async def test_fear_greed_strings_and_update_hint(sim: RunningSimulator, http: Http) -> None:
    url = sim.base_urls["fear_greed"] + "/fng/"
    status, body = await get_json(http, url, limit="2")
    assert status == 200
    expected = sample("fear_greed/fng.json")
    expected["data"][0]["time_until_update"] = "0"
    assert_shape(expected, body)
    assert "time_until_update" not in body["data"][1]
    assert int(body["data"][0]["timestamp"]) - int(body["data"][1]["timestamp"]) == 86400
    _, one = await get_json(http, url)
    assert len(one["data"]) == 1
    _status, every = await get_json(http, url, limit="0", date_format="world")
    assert len(every["data"]) > 2000 and every["data"][-1]["timestamp"] == "01-02-2018"


async def test_frankfurter_latest_and_series(sim: RunningSimulator, http: Http) -> None:
    base = sim.base_urls["fx"]
    status, latest = await get_json(http, base + "/latest", **{"from": "EUR", "to": "USD"})
    assert status == 200
    assert_shape(sample("fx/latest.json"), latest)
    assert latest["date"] == "2024-03-04"  # before today's 16:00 CET fixing: yesterday's
    _, series = await get_json(
        http, base + "/2023-12-22..2024-01-08", **{"from": "USD", "to": "BRL,EUR"}
    )
    assert list(series) == ["amount", "base", "start_date", "end_date", "rates"]
    days = list(series["rates"])
    # ECB business days only: no weekend, no 25/26 Dec, no 1 Jan.
    assert days == [
        "2023-12-22",
        "2023-12-27",
        "2023-12-28",
        "2023-12-29",
        "2024-01-02",
        "2024-01-03",
        "2024-01-04",
        "2024-01-05",
        "2024-01-08",
    ]
    assert all(list(r) == ["BRL", "EUR"] for r in series["rates"].values())
    _status, one_day = await get_json(http, base + "/2023-04-08", **{"from": "USD", "to": "BRL"})
    assert one_day["date"] == "2023-04-06"  # Saturday after Good Friday -> Thursday


async def test_mercadobitcoin_tickers_and_candles(sim: RunningSimulator, http: Http) -> None:
    base = sim.base_urls["mercadobitcoin"]
    status, tickers = await get_json(http, base + "/tickers", symbols="BTC-BRL,ETH-BRL")
    assert status == 200 and [t["pair"] for t in tickers] == ["BTC-BRL", "ETH-BRL"]
    assert_shape(sample("mercadobitcoin/tickers.json"), tickers)
    to = 1709641815
    status, candles = await get_json(
        http, base + "/candles", symbol="BTC-BRL", resolution="1h", to=str(to), countback="3"
    )
    assert_shape(sample("mercadobitcoin/candles_1h.json"), candles)
    assert len(candles["t"]) == 3 and candles["t"][-1] == to // 3600 * 3600
    status, ranged = await get_json(
        http,
        base + "/candles",
        symbol="BTC-BRL",
        resolution="1d",
        **{"from": str(to - 10 * 86400), "to": str(to)},
    )
    assert len(ranged["t"]) == 10 and len({len(v) for v in ranged.values()}) == 1


async def test_error_bodies_are_the_real_ones(sim: RunningSimulator, http: Http) -> None:
    b = sim.base_urls
    assert await get_json(
        http, b["binance"] + "/api/v3/klines", symbol="XXXUSDT", interval="1h"
    ) == (400, sample("binance/error_400_invalid_symbol.json"))
    assert await get_json(http, b["binance"] + "/api/v3/ticker/24hr", symbol="NOPE") == (
        400,
        {"code": -1121, "msg": "Invalid symbol."},
    )
    assert await get_json(http, b["kraken"] + "/0/public/OHLC", pair="NOPEUSD", interval="60") == (
        200,
        {"error": ["EQuery:Unknown asset pair"]},
    )
    assert await get_json(
        http, b["coinbase"] + "/products/BNB-USD/candles", granularity="3600"
    ) == (404, {"message": "NotFound"})
    assert await get_json(
        http, b["coingecko"] + "/coins/nocoin/market_chart", vs_currency="usd", days="1"
    ) == (404, {"error": "coin not found"})
    status, body = await get_json(
        http,
        b["coingecko"] + "/coins/bitcoin/market_chart",
        vs_currency="usd",
        days="366",
        interval="daily",
    )
    assert status == 401
    err = body["error"]["status"]
    assert err["error_code"] == 10012 and "past 365 days" in err["error_message"]
    assert list(err) == ["timestamp", "error_code", "error_message"]
    status, body = await get_json(
        http,
        b["coingecko"] + "/coins/bitcoin/market_chart",
        vs_currency="usd",
        days="365",
        interval="daily",
    )
    assert status == 200 and len(body["prices"]) == 366


async def test_every_catalogue_pair_is_listed(sim: RunningSimulator, http: Http) -> None:
    from ingestion.simulator.universe import CATALOGUE

    b = sim.base_urls
    for asset in CATALOGUE:
        if asset.binance:
            status, _ = await get_json(
                http,
                b["binance"] + "/api/v3/klines",
                symbol=asset.binance,
                interval="1d",
                limit="1",
            )
            assert status == 200, asset.binance
        if asset.kraken_pair:
            _, body = await get_json(
                http, b["kraken"] + "/0/public/OHLC", pair=asset.kraken_pair, interval="1440"
            )
            assert body["error"] == [] and asset.kraken_key in body["result"]
        if asset.coinbase:
            status, _ = await get_json(http, b["coinbase"] + f"/products/{asset.coinbase}/ticker")
            assert status == 200, asset.coinbase
        if asset.mercadobitcoin:
            status, _ = await get_json(
                http, b["mercadobitcoin"] + "/tickers", symbols=asset.mercadobitcoin
            )
            assert status == 200, asset.mercadobitcoin
