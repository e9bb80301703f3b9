"""What the exchanges' and CoinGecko's own listings say, in one shape.

Each exchange connector reads one record of its listing endpoint (Binance
``/api/v3/exchangeInfo``, Kraken ``/0/public/AssetPairs``, Coinbase ``/products``,
Mercado Bitcoin ``/symbols``) into a :class:`Listing` (its description's
``exchange.read_listing``); CoinGecko's ``/coins/list`` gives :class:`Coin`. The
resolution (``ingestion.resolution``) works on these only, so it is the same whether the
listings come from ``raw.*`` or from a saved sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Listing:
    """One pair an exchange lists.

    Attributes:
        exchange: The exchange id (``binance``).
        symbol: The name criptopipe requests the pair by (``BTCUSDT``, ``XBTUSD``).
        key: The name the exchange answers with, i.e. the natural key of the raw rows
            (Kraken's result key ``XXBTZUSD``; the symbol itself elsewhere).
        base: The base asset as a common ticker (``BTC``, also for Kraken's ``XXBT``).
        quote: The quote currency as a common ticker (``USD`` for Kraken's ``ZUSD``).
        status: The exchange's own word for the pair's state (``TRADING``, ``BREAK``,
            ``online``, ``cancel_only``, ``delisted``…).
        is_active: Whether the pair trades now; only active pairs are requested.
        name: The base asset's name where the listing gives one (Mercado Bitcoin).
    """

    exchange: str
    symbol: str
    key: str
    base: str
    quote: str
    status: str
    is_active: bool
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Coin:
    """One entry of CoinGecko's ``/coins/list``: its id, (lower-case) symbol and name."""

    coin_id: str
    symbol: str
    name: str


def text(record: Any, name: str) -> str:
    """``record[name]`` as a non-empty string; ValueError naming the field otherwise."""
    value = record.get(name) if isinstance(record, dict) else None
    if not isinstance(value, str) or not value:
        raise ValueError(f"listing record has no {name!r}: {str(record)[:80]}")
    return value
