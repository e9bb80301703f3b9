"""What the Market overview page shows, worked out from its reads: one view per set of reads.

The page reads five marts; this module turns them into what it draws: the prices in the
display currency (each at the rate in force at its instant), the KPI tiles, the figures,
the top movers' table. ``ui.derived`` keeps the view for the page's later runs on the same
reads, so a warm run draws it without converting, sorting or building figures again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
import plotly.graph_objects as go

from dashboard import charts, currency, metrics, ui


@dataclass(frozen=True)
class Chart:
    """One figure of the page and the "as of" of its data.

    Attributes:
        figure: The figure (shared by every run with the same reads: never changed).
        as_of: The newest time or date it shows.
    """

    figure: go.Figure
    as_of: datetime | date | None


@dataclass(frozen=True)
class MarketOverview:
    """Everything the Market overview draws, in the display currency.

    Attributes:
        currency: The display currency.
        market_cap: Total market cap (tile).
        cap_change: The market cap's change over 24 h in % (the tile's delta).
        btc: BTC dominance in % (tile).
        eth: ETH dominance in % (tile).
        fear_greed: Fear & Greed (tile).
        snapshot_count: How many market snapshots the dates hold.
        cap_by_asset: Daily market cap per tracked asset, None without any.
        cap_history: Total market cap and dominance, None under two snapshots.
        caps: The latest market cap per asset, None without any.
        fear_greed_gauge: The latest Fear & Greed, None without any.
        fear_greed_history: Fear & Greed per day, None without any.
        movers: The 24-hour change per asset, None without consensus prices.
        movers_table: The movers as the table shows them (price columns named after the
            currency), largest change first.
    """

    currency: str
    market_cap: metrics.Kpi
    cap_change: metrics.Kpi
    btc: metrics.Kpi
    eth: metrics.Kpi
    fear_greed: metrics.Kpi
    snapshot_count: int
    cap_by_asset: Chart | None
    cap_history: Chart | None
    caps: Chart | None
    fear_greed_gauge: Chart | None
    fear_greed_history: Chart | None
    movers: Chart | None
    movers_table: pd.DataFrame


def _movers(movers: pd.DataFrame, shown_in: str) -> pd.DataFrame:
    """Each price at the rate of its own instant, the change recomputed, largest first."""
    if movers.empty:
        return movers
    now_prices = currency.convert(movers, ("close_price_usd",), shown_in, at=movers["closed_at"])
    day_before = currency.convert(
        movers, ("close_price_usd_24h_ago",), shown_in, at=movers["closed_at_24h_ago"]
    )
    movers = movers.assign(
        close_price_usd=now_prices["close_price_usd"],
        close_price_usd_24h_ago=day_before["close_price_usd_24h_ago"],
    )
    movers["change_pct"] = 100 * (movers["close_price_usd"] / movers["close_price_usd_24h_ago"] - 1)
    return movers.sort_values("change_pct", ascending=False)


def market_overview(
    snapshots: pd.DataFrame,
    sentiment: pd.DataFrame,
    movers: pd.DataFrame,
    caps: pd.DataFrame,
    cap_history: pd.DataFrame,
    shown_in: str,
) -> MarketOverview:
    """The page's view of its reads, every price in ``shown_in``.

    Args:
        snapshots: ``data.market_snapshots``.
        sentiment: ``data.sentiment``.
        movers: ``data.top_movers``.
        caps: ``data.asset_market_caps``.
        cap_history: ``data.market_cap_daily``.
        shown_in: The display currency.

    Returns:
        The view.
    """
    # Every price in the display currency, at the rate in force when it held.
    snapshots = currency.convert(
        snapshots,
        ("total_market_cap_usd", "total_volume_usd"),
        shown_in,
        at=snapshots.get("snapshot_at"),
    )
    movers = _movers(movers, shown_in)
    caps = currency.convert(
        caps,
        ("current_price_usd", "market_cap_usd"),
        shown_in,
        at=caps.get("market_data_updated_at"),
    )
    cap_history = currency.convert(
        cap_history,
        ("market_cap_usd", "price_usd", "volume_usd"),
        shown_in,
        at=cap_history.get("observed_at"),
    )
    fear_greed = metrics.kpi(sentiment, "sentiment_date", "fear_greed_value", timedelta(days=1))
    gauge = None
    if fear_greed.value is not None:
        previous = None if fear_greed.delta is None else fear_greed.value - fear_greed.delta
        gauge = Chart(
            ui.sent_figure(charts.fear_greed_gauge, fear_greed.value, previous), fear_greed.as_of
        )
    suffix = shown_in.lower()
    return MarketOverview(
        currency=shown_in,
        market_cap=metrics.kpi(snapshots, "snapshot_at", "total_market_cap_usd"),
        cap_change=metrics.kpi(snapshots, "snapshot_at", "market_cap_change_pct_24h"),
        btc=metrics.kpi(snapshots, "snapshot_at", "btc_dominance_pct"),
        eth=metrics.kpi(snapshots, "snapshot_at", "eth_dominance_pct"),
        fear_greed=fear_greed,
        snapshot_count=len(snapshots),
        cap_by_asset=None
        if cap_history.empty
        else Chart(
            ui.sent_figure(charts.market_cap_by_asset_history, cap_history, shown_in),
            ui.latest(cap_history, "observed_at"),
        ),
        cap_history=None
        if len(snapshots) < 2
        else Chart(
            ui.sent_figure(charts.market_cap_history, snapshots, shown_in),
            ui.latest(snapshots, "snapshot_at"),
        ),
        caps=None
        if caps.empty
        else Chart(
            ui.sent_figure(charts.market_caps, caps, shown_in),
            ui.latest(caps, "market_data_updated_at"),
        ),
        fear_greed_gauge=gauge,
        fear_greed_history=None
        if sentiment.empty
        else Chart(
            ui.sent_figure(charts.fear_greed_history, sentiment),
            ui.latest(sentiment, "sentiment_date"),
        ),
        movers=None
        if movers.empty
        else Chart(ui.sent_figure(charts.top_movers, movers), ui.latest(movers, "closed_at")),
        movers_table=movers.drop(columns=["fx_factor"], errors="ignore").rename(
            columns={
                "close_price_usd": f"close_price_{suffix}",
                "close_price_usd_24h_ago": f"close_price_{suffix}_24h_ago",
            }
        ),
    )
