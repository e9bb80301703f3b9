"""Every source and endpoint criptopipe ingests, in one place.

:data:`CONNECTORS` lists the connector modules, each with its ``DESCRIPTION`` (a
:class:`~ingestion.connectors.source.Source`) and its ``ENDPOINTS``. Settings, the HTTP
client, the raw table contract and ``.env.example`` read :data:`DESCRIPTIONS`;
orchestration generates its assets from :data:`REGISTRY` (asset key
``raw/<source>/<endpoint>``, partitioned when ``spec.is_time_windowed``). Adding an API is one
connector module and one line in :data:`CONNECTORS` (see CONTRIBUTING.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

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
from ingestion.connectors.source import Source

CONNECTORS: tuple[ModuleType, ...] = (
    coingecko,
    binance,
    kraken,
    coinbase,
    fear_greed,
    fx,
    mercadobitcoin,
)


def _descriptions() -> dict[str, Source]:
    out: dict[str, Source] = {}
    for module in CONNECTORS:
        description: Source = module.DESCRIPTION
        strays = [s.name for s in module.ENDPOINTS if s.source != description.name]
        if strays or description.name in out:
            raise ValueError(f"{module.__name__}: endpoints {strays} or a repeated source name")
        out[description.name] = description
    return out


DESCRIPTIONS: dict[str, Source] = _descriptions()
# The exchanges (sources with exchange rules): where candles come from, in registry order.
EXCHANGES: tuple[Source, ...] = tuple(d for d in DESCRIPTIONS.values() if d.exchange is not None)
REGISTRY: tuple[EndpointSpec, ...] = tuple(
    spec for module in CONNECTORS for spec in module.ENDPOINTS
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
    """The source ids, in registry order."""
    return tuple(DESCRIPTIONS)


def describe(source: str) -> Source:
    """The description of ``source``.

    Args:
        source: The source id.

    Returns:
        What its connector module declares about it.

    Raises:
        ValueError: For a source that is not registered, naming the known ones.
    """
    try:
        return DESCRIPTIONS[source]
    except KeyError:
        raise ValueError(f"unknown source {source!r}; sources: {', '.join(DESCRIPTIONS)}") from None


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
