"""Resolving configured tickers against the saved real listings (tests/fixtures).

Binance exchangeInfo (BREAK pairs that still say isSpotTradingAllowed), Kraken AssetPairs
(XXBTZUSD next to XBTUSDT and XDGUSD, cancel_only and post_only pairs), Coinbase products
(delisted with trading_disabled), Mercado Bitcoin /symbols (documented format) and
CoinGecko /coins/list (btc names four coins).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingestion.connectors import coingecko, kraken
from ingestion.connectors.registry import EXCHANGES, get_endpoint
from ingestion.listings import Coin, Listing
from ingestion.resolution import (
    AmbiguousAssetError,
    AssetRequest,
    UnknownAssetError,
    parse_asset_request,
    parse_asset_requests,
    resolve,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
AT = datetime(2025, 7, 5, tzinfo=UTC)
SAMPLES = {
    "binance": ("exchange_info", "exchange_info.json", "/api/v3/exchangeInfo"),
    "kraken": ("asset_pairs", "asset_pairs.json", "/0/public/AssetPairs"),
    "coinbase": ("products", "products.json", "/products"),
    "mercadobitcoin": ("symbols", "symbols.json", "/symbols"),
}


def _records(source: str, endpoint: str, fixture: str, path: str) -> list[Any]:
    body = json.loads((FIXTURES / source / fixture).read_text(encoding="utf-8"))
    result = get_endpoint(source, endpoint).parse(path, {}, body, AT)
    assert not result.rejected, result.rejected
    return result.records


def _listings() -> list[Listing]:
    out = []
    for source in EXCHANGES:
        assert source.exchange is not None and source.exchange.read_listing is not None
        endpoint, fixture, path = SAMPLES[source.name]
        assert endpoint == source.exchange.listing
        for record in _records(source.name, endpoint, fixture, path):
            out.append(source.exchange.read_listing(record.key, record.record))
    return out


def _coins() -> list[Coin]:
    records = _records("coingecko", "coins_list", "coins_list.json", "/coins/list")
    return [coingecko.read_coin(r.key, r.record) for r in records]


LISTINGS = _listings()
COINS = _coins()
RANKS = {"bitcoin": 1, "ethereum": 2, "tether": 3}


def _resolve(*tickers: str, ranks: dict[str, int] | None = None) -> Any:
    return resolve(
        parse_asset_requests(tickers),
        LISTINGS,
        COINS,
        EXCHANGES,
        ranks=RANKS if ranks is None else ranks,
    )


def test_every_listing_sample_reads_into_listings() -> None:
    by_exchange = {e.name: [x for x in LISTINGS if x.exchange == e.name] for e in EXCHANGES}
    assert len(by_exchange["binance"]) == 6
    assert len(by_exchange["kraken"]) == 9
    assert len(by_exchange["coinbase"]) == 8
    assert len(by_exchange["mercadobitcoin"]) == 5
    assert len(COINS) == 13


def test_kraken_legacy_x_z_names_resolve_to_common_tickers() -> None:
    kraken_pairs = {x.key: x for x in LISTINGS if x.exchange == "kraken"}
    assert (kraken_pairs["XXBTZUSD"].base, kraken_pairs["XXBTZUSD"].quote) == ("BTC", "USD")
    assert kraken_pairs["XXBTZUSD"].symbol == "XBTUSD"
    assert (kraken_pairs["XBTUSDT"].base, kraken_pairs["XBTUSDT"].quote) == ("BTC", "USDT")
    assert kraken_pairs["XDGUSD"].base == "DOGE"  # base XXDG
    assert (kraken_pairs["XETHZUSD"].base, kraken_pairs["XETHZUSD"].symbol) == ("ETH", "ETHUSD")
    assert kraken_pairs["XREPZEUR"].quote == "EUR"
    assert kraken.ticker("XXBT") == kraken.ticker("XBT") == "BTC"
    assert kraken.ticker("ZUSD") == "USD"
    assert kraken.ticker("ZEUS") == "ZEUS"  # a modern four-letter code keeps its Z

    resolution = _resolve("BTC", "ETH", "DOGE", "USDT")
    btc = resolution.get("BTC")
    # requested by altname, answered (and keyed in raw) by the legacy result key
    assert (btc.symbol("kraken"), btc.key("kraken")) == ("XBTUSD", "XXBTZUSD")
    assert (resolution.get("ETH").symbol("kraken"), resolution.get("ETH").key("kraken")) == (
        "ETHUSD",
        "XETHZUSD",
    )
    assert resolution.get("DOGE").key("kraken") == "XDGUSD"
    assert resolution.get("USDT").key("kraken") == "USDTZUSD"


def test_each_exchange_gets_its_own_spelling_in_its_quote() -> None:
    btc = _resolve("BTC").get("BTC")
    assert btc.symbol("binance") == "BTCUSDT"  # BTCBRL is listed too, but Binance is USDT
    assert btc.symbol("coinbase") == "BTC-USD"  # not the delisted BTC-USDC
    assert btc.symbol("mercadobitcoin") == "BTC-BRL"
    assert btc.coingecko_id == "bitcoin" and btc.name == "Bitcoin"


def test_halted_and_delisted_pairs_are_not_requested_and_say_why() -> None:
    resolution = _resolve("UST", ranks={})
    ust = resolution.get("UST")
    # Binance: USTUSDT is BREAK, though it still says isSpotTradingAllowed
    assert ust.symbol("binance") is None
    assert "USTUSDT is BREAK" in ust.reason("binance")
    # Kraken: USTUSD is cancel_only
    assert ust.symbol("kraken") is None and "cancel_only" in ust.reason("kraken")
    # Coinbase lists UST only against USDT (and delisted)
    assert ust.reason("coinbase") == "not listed against USD (only USDT)"
    assert ust.reason("mercadobitcoin") == "not listed"
    # Mercado Bitcoin: ANKR-BRL is listed but not traded
    ankr = _resolve("ANKR").get("ANKR")
    assert ankr.symbol("mercadobitcoin") is None
    assert "not traded" in ankr.reason("mercadobitcoin")
    # Coinbase: a delisted product reads as inactive
    btc_usdc = next(x for x in LISTINGS if x.key == "BTC-USDC")
    assert (btc_usdc.status, btc_usdc.is_active) == ("delisted", False)


def test_ambiguous_coingecko_symbols() -> None:
    # btc: bitcoin, batcat, blackrocktradingcurrency, osmosis-allbtc; no ranks: an error
    with pytest.raises(AmbiguousAssetError) as err:
        _resolve("BTC", ranks={})
    message = str(err.value)
    assert "4 coins" in message and "batcat" in message and "bitcoin (Bitcoin)" in message
    assert "BTC=<id>" in message
    # the market-cap rank chooses, and the note says so
    resolution = _resolve("ETH")
    assert resolution.get("ETH").coingecko_id == "ethereum"
    assert any("chose ethereum" in n for n in resolution.notes)
    # an explicit id wins over the rank
    chosen = resolve(
        [AssetRequest("ETH", "ethereum-wormhole")], LISTINGS, COINS, EXCHANGES, ranks=RANKS
    )
    assert chosen.get("ETH").coingecko_id == "ethereum-wormhole"
    assert chosen.get("ETH").symbol("binance") == "ETHUSDT"


def test_unknown_ticker_is_an_error_with_close_matches() -> None:
    with pytest.raises(UnknownAssetError) as err:
        _resolve("BTC", "ETHH", "USDTT")
    message = str(err.value)
    assert "unknown asset 'ETHH'" in message and "ETH" in message
    assert "unknown asset 'USDTT'" in message and "USDT" in message
    with pytest.raises(UnknownAssetError, match="close matches: bitcoin"):
        resolve([AssetRequest("BTC", "bitcoinn")], LISTINGS, COINS, EXCHANGES)


def test_asset_on_exchanges_only_and_stablecoins() -> None:
    resolution = _resolve("PEPE", "USDT", "USDC")
    pepe = resolution.get("PEPE")
    assert pepe.coingecko_id is None and pepe.name == "Pepe"  # Mercado Bitcoin's name
    assert pepe.symbol("mercadobitcoin") == "PEPE-BRL"
    assert pepe.reason("binance") == "not listed"
    assert any("PEPE: CoinGecko lists no coin" in n for n in resolution.notes)
    assert resolution.get("USDT").is_stablecoin and not pepe.is_stablecoin
    assert resolution.get("USDT").symbol("binance") is None  # no USDTUSDT pair


def test_asset_requests_parse_and_refuse_bad_entries() -> None:
    assert parse_asset_request(" avax ") == AssetRequest("AVAX")
    assert parse_asset_request("AVAX=avalanche-2") == AssetRequest("AVAX", "avalanche-2")
    assert parse_asset_request("XYZ=1move token").coingecko_id == "1move token"
    assert parse_asset_requests(["BTC", "btc=bitcoin", "ETH"]) == (
        AssetRequest("BTC", "bitcoin"),
        AssetRequest("ETH"),
    )
    for bad in ("", "=bitcoin", "B TC", "BTC="):
        with pytest.raises(ValueError):
            parse_asset_request(bad)
    with pytest.raises(ValueError, match="configured twice"):
        parse_asset_requests(["ETH=ethereum", "ETH=ethereum-wormhole"])
