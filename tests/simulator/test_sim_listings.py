"""The listing endpoints answer in the real formats, delisted and halted pairs included."""

from __future__ import annotations

from simhelpers import Http, assert_shape, get_json, sample

from ingestion.simulator import RunningSimulator


async def test_binance_exchange_info_lists_break_pairs_like_the_real_one(
    sim: RunningSimulator, http: Http
) -> None:
    status, body = await get_json(http, sim.base_urls["binance"] + "/api/v3/exchangeInfo")
    assert status == 200
    real = sample("binance/exchange_info.json")
    assert list(body) == list(real)
    real_symbol = real["symbols"][0]
    real_filters = {f["filterType"]: f for s in real["symbols"] for f in s["filters"]}
    for symbol in body["symbols"]:
        assert list(symbol) == list(real_symbol)
        assert_shape(
            {k: v for k, v in real_symbol.items() if k != "filters"},
            {k: v for k, v in symbol.items() if k != "filters"},
        )
        for one in symbol["filters"]:
            assert_shape(real_filters[one["filterType"]], one)
    by_symbol = {s["symbol"]: s for s in body["symbols"]}
    assert by_symbol["BTCUSDT"]["status"] == "TRADING"
    assert by_symbol["AVAXUSDT"]["baseAsset"] == "AVAX"  # beyond the old catalogue
    # delisted: BREAK, yet isSpotTradingAllowed, as on the real API
    assert by_symbol["LUNAUSDT"]["status"] == "BREAK"
    assert by_symbol["LUNAUSDT"]["isSpotTradingAllowed"] is True


async def test_kraken_asset_pairs_keep_legacy_names(sim: RunningSimulator, http: Http) -> None:
    status, body = await get_json(http, sim.base_urls["kraken"] + "/0/public/AssetPairs")
    assert status == 200
    assert_shape(sample("kraken/asset_pairs.json"), body)
    result = body["result"]
    btc = result["XXBTZUSD"]
    assert (btc["altname"], btc["wsname"], btc["base"], btc["quote"]) == (
        "XBTUSD",
        "XBT/USD",
        "XXBT",
        "ZUSD",
    )
    assert result["XDGUSD"]["base"] == "XXDG"  # not X/Z-prefixed as a pair, yet a legacy base
    assert result["XBTUSDT"]["quote"] == "USDT"
    assert result["LUNAUSD"]["status"] == "cancel_only"


async def test_coinbase_products_and_mb_symbols_and_coins_list(
    sim: RunningSimulator, http: Http
) -> None:
    status, products = await get_json(http, sim.base_urls["coinbase"] + "/products")
    assert status == 200
    assert_shape(sample("coinbase/products.json"), products)
    by_id = {p["id"]: p for p in products}
    assert by_id["LUNA-USD"]["status"] == "delisted" and by_id["LUNA-USD"]["trading_disabled"]
    assert [p["id"] for p in products] != sorted(by_id)  # unsorted, like the real list

    status, symbols = await get_json(http, sim.base_urls["mercadobitcoin"] + "/symbols")
    assert status == 200
    assert_shape(sample("mercadobitcoin/symbols.json"), symbols)
    traded = dict(zip(symbols["symbol"], symbols["exchange-traded"], strict=True))
    assert traded["BTC-BRL"] is True and traded["LUNA-BRL"] is False
    status, some = await get_json(
        http, sim.base_urls["mercadobitcoin"] + "/symbols", symbols="BTC-BRL,ETH-BRL"
    )
    assert some["symbol"] == ["BTC-BRL", "ETH-BRL"]

    status, coins = await get_json(http, sim.base_urls["coingecko"] + "/coins/list")
    assert status == 200
    assert_shape(sample("coingecko/coins_list.json"), coins)
    btc = sorted(c["id"] for c in coins if c["symbol"] == "btc")
    assert btc == ["batcat", "bitcoin", "osmosis-allbtc"]  # ambiguous, as the real list is


async def test_a_pair_halted_while_running_shows_it_and_stops_serving(
    sim: RunningSimulator, http: Http
) -> None:
    base = sim.base_urls["binance"]
    status, _ = await get_json(http, base + "/api/v3/klines", symbol="AVAXUSDT", interval="1h")
    assert status == 200
    sim.state.pair_status[("binance", "AVAXUSDT")] = "BREAK"
    _, body = await get_json(http, base + "/api/v3/exchangeInfo")
    assert {s["symbol"]: s["status"] for s in body["symbols"]}["AVAXUSDT"] == "BREAK"
    status, error = await get_json(http, base + "/api/v3/klines", symbol="AVAXUSDT", interval="1h")
    assert (status, error["code"]) == (400, -1121)
