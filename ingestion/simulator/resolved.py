"""The simulated world's listings, resolved: assets for plans and data made without a run.

The listings are made by the simulator's own listing handlers (the bodies it serves) and
read by the connectors' parsers and listing readers, then resolved by
``ingestion.resolution``: the same path a run takes, without HTTP or a database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from ingestion.connectors.base import KeyValue
from ingestion.connectors.coingecko import read_coin
from ingestion.connectors.registry import EXCHANGES, get_endpoint
from ingestion.listings import Coin, Listing
from ingestion.resolution import (
    DEFAULT_STABLECOINS,
    Asset,
    Resolution,
    parse_asset_requests,
    resolve,
)
from ingestion.simulator import SimulatorConfig
from ingestion.simulator.common import SimRequest
from ingestion.simulator.sources import binance, coinbase, coingecko, kraken, mercadobitcoin
from ingestion.simulator.state import SimulatorState

AT = datetime(2025, 3, 1, tzinfo=UTC)
HANDLERS = {
    "binance": ("/api/v3/exchangeInfo", binance.binance_exchange_info),
    "kraken": ("/0/public/AssetPairs", kraken.kraken_asset_pairs),
    "coinbase": ("/products", coinbase.coinbase_products),
    "mercadobitcoin": ("/symbols", mercadobitcoin.mb_symbols),
    "coingecko": ("/coins/list", coingecko.coingecko_coins_list),
}
ENDPOINTS = {
    "binance": "exchange_info",
    "kraken": "asset_pairs",
    "coinbase": "products",
    "mercadobitcoin": "symbols",
    "coingecko": "coins_list",
}


def records(source: str) -> list[tuple[tuple[KeyValue, ...], Any]]:
    """The records of ``source``'s simulated listing: (natural key, record) per entry.

    Args:
        source: A source with a listing (an exchange, or CoinGecko's coin list).

    Returns:
        What its connector's parser makes of the body the simulator serves.
    """
    path, handler = HANDLERS[source]
    state = SimulatorState(SimulatorConfig(now=AT))
    request = SimRequest(source, path, {}, {}, {}, state, int(AT.timestamp()))
    body = json.loads(handler(request).body)
    result = get_endpoint(source, ENDPOINTS[source]).parse(path, {}, body, AT)
    if result.rejected:
        raise ValueError(f"the simulated {source} listing has invalid entries: {result.rejected}")
    return [(r.key, r.record) for r in result.records]


@lru_cache(maxsize=1)
def world() -> tuple[tuple[Listing, ...], tuple[Coin, ...]]:
    """Every listing and coin the simulator serves (its default configuration)."""
    listings = tuple(
        source.exchange.read_listing(key, record)
        for source in EXCHANGES
        if source.exchange is not None and source.exchange.read_listing is not None
        for key, record in records(source.name)
    )
    coins = tuple(read_coin(key, record) for key, record in records("coingecko"))
    return listings, coins


def sim_resolution(
    tickers: Iterable[str], stablecoins: Iterable[str] = DEFAULT_STABLECOINS
) -> Resolution:
    """The resolution of ``tickers`` against the simulated listings (ranks: by anchor cap)."""
    from ingestion.simulator.universe import CATALOGUE

    listings, coins = world()
    by_cap = sorted(CATALOGUE, key=lambda a: -a.anchor_usd * a.supply[0])
    ranks = {a.coingecko_id: i + 1 for i, a in enumerate(by_cap)}
    return resolve(
        parse_asset_requests(tickers),
        listings,
        coins,
        EXCHANGES,
        ranks=ranks,
        stablecoins=stablecoins,
    )


def sim_assets(*tickers: str) -> tuple[Asset, ...]:
    """The resolved assets ``tickers`` of the simulated world."""
    return sim_resolution(tickers).assets
