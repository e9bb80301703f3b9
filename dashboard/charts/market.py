"""Figures of the Market overview page: Fear & Greed, market caps, top movers."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.style import (
    DOWN,
    FEAR_GREED_BANDS,
    UP,
    coloured_bars,
    fear_greed_band,
    layout,
)


def fear_greed_gauge(value: float, previous: float | None = None) -> go.Figure:
    """A 0 to 100 gauge with the five bands; the delta is against ``previous`` when given."""
    name, colour = fear_greed_band(value)
    indicator = go.Indicator(
        mode="gauge+number+delta" if previous is not None else "gauge+number",
        value=value,
        delta={"reference": previous} if previous is not None else None,
        title={"text": name},
        gauge={
            "axis": {"range": [0, 100]},
            "bar": {"color": colour, "thickness": 0.3},
            "steps": [
                {"range": [low, high], "color": band_colour, "name": band}
                for low, high, band, band_colour in FEAR_GREED_BANDS
            ],
        },
    )
    fig = go.Figure(indicator)
    fig.update_layout(height=260, margin={"l": 20, "r": 20, "t": 40, "b": 10})
    return fig


def fear_greed_history(frame: pd.DataFrame) -> go.Figure:
    """Fear & Greed per day (left axis) with BTC's daily return (right axis, bars).

    Expects sentiment_date, fear_greed_value and, optionally, btc_simple_return.
    """
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(
            x=frame["sentiment_date"],
            y=frame["fear_greed_value"],
            name="Fear & Greed",
            mode="lines",
            line={"color": "#7c3aed"},
        ),
        secondary_y=False,
    )
    if "btc_simple_return" in frame and frame["btc_simple_return"].notna().any():
        returns = frame["btc_simple_return"] * 100
        fig.add_trace(
            coloured_bars(
                [UP if r >= 0 else DOWN for r in returns.fillna(0)],
                x=frame["sentiment_date"],
                y=returns,
                name="BTC return (%)",
                opacity=0.45,
            ),
            secondary_y=True,
        )
    fig.update_yaxes(title_text="index", range=[0, 100], secondary_y=False)
    fig.update_yaxes(title_text="BTC return (%)", secondary_y=True, showgrid=False)
    return layout(fig, "Fear & Greed and BTC's daily return")


def market_cap_history(frame: pd.DataFrame, currency: str = "USD") -> go.Figure:
    """Total market cap (left axis, in ``currency``) with BTC and ETH dominance in % (right)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(
            x=frame["snapshot_at"],
            y=frame["total_market_cap_usd"],
            name=f"Total market cap ({currency})",
            fill="tozeroy",
            line={"color": "#2563eb"},
        ),
        secondary_y=False,
    )
    for column, label, colour in (
        ("btc_dominance_pct", "BTC dominance (%)", "#f7931a"),
        ("eth_dominance_pct", "ETH dominance (%)", "#627eea"),
    ):
        if column in frame:
            fig.add_trace(
                go.Scatter(
                    x=frame["snapshot_at"], y=frame[column], name=label, line={"color": colour}
                ),
                secondary_y=True,
            )
    fig.update_yaxes(title_text=currency, secondary_y=False)
    fig.update_yaxes(title_text="dominance (%)", secondary_y=True, showgrid=False)
    return layout(fig, "Total market cap and dominance")


def market_cap_by_asset_history(frame: pd.DataFrame, currency: str = "USD") -> go.Figure:
    """Daily market cap per asset (in ``currency``), stacked: the tracked part of the market."""
    fig = go.Figure()
    for asset_id, rows in frame.groupby("asset_id", sort=False):
        fig.add_trace(
            go.Scatter(
                x=rows["price_date"],
                y=rows["market_cap_usd"],
                name=str(asset_id),
                stackgroup="market_cap",
                mode="lines",
            )
        )
    fig.update_yaxes(title_text=currency)
    return layout(fig, "Market cap of the tracked assets, daily")


def market_caps(frame: pd.DataFrame, currency: str = "USD") -> go.Figure:
    """Bars of the latest market cap per asset (in ``currency``), largest first.

    Expects asset_id, market_cap_usd.
    """
    ordered = frame.sort_values("market_cap_usd", ascending=False)
    fig = go.Figure(
        go.Bar(
            x=ordered["asset_id"],
            y=ordered["market_cap_usd"],
            marker_color="#2563eb",
            name=f"market cap ({currency})",
        )
    )
    fig.update_yaxes(title_text=currency)
    return layout(fig, "Market cap by asset", height=320)


def top_movers(frame: pd.DataFrame) -> go.Figure:
    """Horizontal bars of the 24-hour change per asset, best at the top, green up, red down."""
    ordered = frame.sort_values("change_pct")
    fig = go.Figure(
        go.Bar(
            x=ordered["change_pct"],
            y=ordered["asset_id"],
            orientation="h",
            marker_color=[UP if v >= 0 else DOWN for v in ordered["change_pct"]],
            text=[f"{v:+.2f}%" for v in ordered["change_pct"]],
            textposition="auto",
            name="24h change",
        )
    )
    fig.update_xaxes(title_text="change over 24 h (%)", zeroline=True)
    return layout(fig, "Top movers, last 24 hours", height=max(260, 40 * len(frame) + 80))
