"""What the simulated listing endpoints share: the pairs an exchange lists right now.

Each exchange's handler module serves its listing in that API's real format
(``sources/<source>.py``) from :func:`pairs`: the configured coins of
``universe.CATALOGUE`` that the exchange trades, and ``universe.OTHER_PAIRS`` (other quotes,
delisted and halted pairs); a pair halted at run time (``state.pair_status``) shows its
new status.
"""

from __future__ import annotations

from typing import Any

from ingestion.simulator import market
from ingestion.simulator.common import Records, SimRequest
from ingestion.simulator.universe import CATALOGUE, OTHER_PAIRS, ListedPair


def pairs(req: SimRequest, exchange: str, active: str, quote: str) -> list[ListedPair]:
    """Every pair ``exchange`` lists now.

    Args:
        req: The request (its simulator's configured coins and run-time statuses).
        exchange: The exchange.
        active: The exchange's status word for a pair that trades (``TRADING``).
        quote: How the exchange writes its quote currency (Kraken: ``ZUSD``).

    Returns:
        The configured coins' pairs, then the other pairs, statuses as of now.
    """
    out: list[ListedPair] = []
    for asset in CATALOGUE:
        names = asset.names(exchange)
        if asset.asset_id not in req.state.config.assets or not names:
            continue
        key = names[1] if len(names) > 1 else None
        base = asset.base_code(exchange)
        out.append(ListedPair(exchange, names[0], base, quote, active, key, asset.asset_id))
    out.extend(p for p in OTHER_PAIRS if p.exchange == exchange)
    overrides = req.state.pair_status
    return [
        ListedPair(
            p.exchange,
            p.symbol,
            p.base,
            p.quote,
            overrides[(exchange, p.symbol)],
            p.key,
            p.asset_id,
        )
        if (exchange, p.symbol) in overrides
        else p
        for p in out
    ]


def decimals(pair: ListedPair) -> int:
    """Decimals of the pair's price tick (its coin's, or 4 for coins not simulated)."""
    if pair.asset_id in market.ANCHOR_USD:
        return market.price_decimals(pair.exchange, str(pair.asset_id))
    return 4


def keyed(records: Any, field: str) -> Records:
    """Ground-truth records of a listing array: (record[field],) -> record."""
    if not isinstance(records, list):
        return []
    return [((r[field],), r) for r in records if isinstance(r, dict) and field in r]
