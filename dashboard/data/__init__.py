"""Every query the dashboard runs, and nothing else: ``dashboard.data.<query>()``.

The dashboard reads the dbt marts (schema ``marts``) only, as the read-only ``reader`` role.
Each public function returns a :class:`pandas.DataFrame` and is cached for a few minutes
(``st.cache_data`` with a TTL), keyed by the database it reads, the SQL and its parameters.
SQL is written here in full; values are always passed as psycopg placeholders and no
identifier ever comes from user input.

Two kinds of "no data":

* the warehouse cannot be reached, or no mart has been built yet: :func:`warehouse_status`
  says so and the pages show "No data yet — run ``make demo``";
* one mart is missing (not built yet) or empty for the chosen filters: its query returns an
  empty frame, and the page shows an empty state for that chart only.

The queries live in ``market`` and ``health``, the connection and the cache in
``warehouse``; every public name is importable from ``dashboard.data``.
"""

from __future__ import annotations

from dashboard.data.health import (
    dbt_test_results,
    lake_documents,
    now_utc,
    pipeline_health,
    quarantine_reasons,
    recent_runs,
)
from dashboard.data.market import (
    CANDLE_INTERVALS,
    MAX_POINTS,
    asset_exchanges,
    asset_market_caps,
    assets,
    brazil_premium,
    candles,
    chart_interval,
    correlations,
    daily_returns,
    data_date_range,
    ewma_volatility,
    exchanges,
    fx_currencies,
    fx_rates_at,
    market_cap_daily,
    market_snapshots,
    price_divergences,
    sentiment,
    spreads,
    spreads_are_daily,
    technical_indicators,
    top_movers,
)
from dashboard.data.warehouse import (
    CONNECT_TIMEOUT_SECONDS,
    MARTS_SCHEMA,
    TTL_HEALTH,
    TTL_MARKET,
    DataUnavailable,
    WarehouseStatus,
    clear_cache,
    day_window,
    logger,
    read_health,
    read_id,
    read_market,
    reader_dsn,
    warehouse_status,
)

__all__ = [
    "CANDLE_INTERVALS",
    "CONNECT_TIMEOUT_SECONDS",
    "MARTS_SCHEMA",
    "MAX_POINTS",
    "TTL_HEALTH",
    "TTL_MARKET",
    "DataUnavailable",
    "WarehouseStatus",
    "asset_exchanges",
    "asset_market_caps",
    "assets",
    "brazil_premium",
    "candles",
    "chart_interval",
    "clear_cache",
    "correlations",
    "daily_returns",
    "data_date_range",
    "day_window",
    "dbt_test_results",
    "ewma_volatility",
    "exchanges",
    "fx_currencies",
    "fx_rates_at",
    "lake_documents",
    "logger",
    "market_cap_daily",
    "market_snapshots",
    "now_utc",
    "pipeline_health",
    "price_divergences",
    "quarantine_reasons",
    "read_health",
    "read_id",
    "read_market",
    "reader_dsn",
    "recent_runs",
    "sentiment",
    "spreads",
    "spreads_are_daily",
    "technical_indicators",
    "top_movers",
    "warehouse_status",
]
