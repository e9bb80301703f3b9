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

from ingestion.connectors.base import KeyValue, PlanContext
from ingestion.connectors.coingecko import read_coin
from ingestion.connectors.registry import EXCHANGES, REGISTRY
from ingestion.listings import Coin, Listing
from ingestion.resolution import (
    DEFAULT_STABLECOINS,
    Asset,
    Resolution,
    parse_asset_requests,
    resolve,
)
from ingestion.settings import load_settings
from ingestion.simulator import SimulatorConfig
from ingestion.simulator.common import SimRequest
from ingestion.simulator.sources import SOURCES
from ingestion.simulator.state import SimulatorState

AT = datetime(2025, 3, 1, tzinfo=UTC)
LISTINGS = {spec.source: spec for spec in REGISTRY if spec.is_listing}


def _listing_path(source: str) -> str:
    spec = LISTINGS[source]
    return spec.plan(PlanContext(load_settings(), (), AT, None, None, {}))[0].path


def records(source: str) -> list[tuple[tuple[KeyValue, ...], Any]]:
    """The records of ``source``'s simulated listing: (natural key, record) per entry.

    Args:
        source: A source with a listing (an exchange, or CoinGecko's coin list).

    Returns:
        What its connector's parser makes of the body the simulator serves.
    """
    path = _listing_path(source)
    routes = SOURCES[source].routes
    handler = next(h for pattern, h in routes if pattern.fullmatch(path.rstrip("/") or "/"))
    state = SimulatorState(SimulatorConfig(now=AT))
    request = SimRequest(source, path, {}, {}, {}, state, int(AT.timestamp()))
    body = json.loads(handler(request).body)
    result = LISTINGS[source].parse(path, {}, body, AT)
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
    coin_lists = [s for s in LISTINGS if s not in {e.name for e in EXCHANGES}]
    coins = tuple(read_coin(key, record) for s in coin_lists for key, record in records(s))
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
