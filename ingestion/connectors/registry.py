"""Every endpoint criptopipe ingests, in one place.

Orchestration generates its assets from :data:`REGISTRY` (asset key
``raw/<source>/<endpoint>``, partitioned when ``spec.is_candles``); adding an API is one
connector module and one line here.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingestion.connectors import (
    binance,
    coinbase,
    coingecko,
    fear_greed,
    fx,
    kraken,
    mercadobitcoin,
)
from ingestion.connectors.base import EndpointSpec

REGISTRY: tuple[EndpointSpec, ...] = (
    *coingecko.ENDPOINTS,
    *binance.ENDPOINTS,
    *kraken.ENDPOINTS,
    *coinbase.ENDPOINTS,
    *fear_greed.ENDPOINTS,
    *fx.ENDPOINTS,
    *mercadobitcoin.ENDPOINTS,
)

_BY_NAME: dict[tuple[str, str], EndpointSpec] = {(s.source, s.endpoint): s for s in REGISTRY}


def get_endpoint(source: str, endpoint: str) -> EndpointSpec:
    """The spec of ``source``/``endpoint``; ValueError naming the known ones otherwise."""
    try:
        return _BY_NAME[(source, endpoint)]
    except KeyError:
        known = ", ".join(s.name for s in REGISTRY)
        raise ValueError(f"unknown endpoint {source}/{endpoint}; known: {known}") from None


def sources() -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.source for s in REGISTRY))


def select(
    sources: Sequence[str] | None = None,
    endpoints: Sequence[str] | None = None,
) -> tuple[EndpointSpec, ...]:
    """Specs of the given sources and endpoint names (None: all). Unknown names raise."""
    known_sources = set(s.source for s in REGISTRY)
    for source in sources or ():
        if source not in known_sources:
            known = ", ".join(sorted(known_sources))
            raise ValueError(f"unknown source {source!r}; sources: {known}")
    chosen = [s for s in REGISTRY if not sources or s.source in sources]
    if endpoints:
        names = set(endpoints)
        unknown = names - {s.endpoint for s in chosen} - {s.name for s in chosen}
        if unknown:
            raise ValueError(
                f"unknown endpoint(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(s.name for s in chosen)}"
            )
        chosen = [s for s in chosen if s.endpoint in names or s.name in names]
    return tuple(chosen)
