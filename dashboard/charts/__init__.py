"""Pure Plotly figure builders: a DataFrame (and a few options) in, a ``go.Figure`` out.

Nothing here queries, caches or touches Streamlit, so every builder is unit-tested on
plain frames. Column names are the marts' (see ``dashboard/data/``). One module per
dashboard page (``market``, ``asset``, ``cross_exchange``, ``risk``, ``health``) and
``style`` for what they share; every builder is importable from ``dashboard.charts``.
"""

from __future__ import annotations

from dashboard.charts.asset import candlestick, technical_indicators
from dashboard.charts.cross_exchange import brazil_premium, deviation_from_consensus, spread_range
from dashboard.charts.health import freshness, lake_volume
from dashboard.charts.market import (
    fear_greed_gauge,
    fear_greed_history,
    market_cap_by_asset_history,
    market_cap_history,
    market_caps,
    top_movers,
)
from dashboard.charts.risk import (
    correlation_heatmap,
    correlation_matrix,
    ewma_volatility,
    returns_and_drawdown,
    volatility,
)
from dashboard.charts.style import (
    CURRENCY_SYMBOLS,
    DOWN,
    EXCHANGE_COLOURS,
    FEAR_GREED_BANDS,
    NEUTRAL,
    PROVISIONAL,
    STATUS_COLOURS,
    UP,
    fear_greed_band,
    layout,
)

__all__ = [
    "CURRENCY_SYMBOLS",
    "DOWN",
    "EXCHANGE_COLOURS",
    "FEAR_GREED_BANDS",
    "NEUTRAL",
    "PROVISIONAL",
    "STATUS_COLOURS",
    "UP",
    "brazil_premium",
    "candlestick",
    "correlation_heatmap",
    "correlation_matrix",
    "deviation_from_consensus",
    "ewma_volatility",
    "fear_greed_band",
    "fear_greed_gauge",
    "fear_greed_history",
    "freshness",
    "lake_volume",
    "layout",
    "market_cap_by_asset_history",
    "market_cap_history",
    "market_caps",
    "returns_and_drawdown",
    "spread_range",
    "technical_indicators",
    "top_movers",
    "volatility",
]
