"""One handler module per simulated source; ``SOURCES`` is the simulator's router table.

Adding a source to the simulator is one module here (its handlers and a ``SOURCE``
description) and one line below.
"""

from __future__ import annotations

from ingestion.simulator.common import SimSource
from ingestion.simulator.sources import (
    binance,
    coinbase,
    coingecko,
    fear_greed,
    fx,
    kraken,
    mercadobitcoin,
)

SOURCES: dict[str, SimSource] = {
    module.SOURCE.name: module.SOURCE
    for module in (coingecko, binance, kraken, coinbase, fear_greed, fx, mercadobitcoin)
}

__all__ = ["SOURCES"]
