"""Figures of the Cross-exchange page: spreads, deviations from consensus, Brazil premium.

Hourly series over a long range are thinned to ``style.MAX_POINTS`` a trace (each bucket's
lowest and highest point), so a year of hours never reaches the browser whole.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.style import EXCHANGE_COLOURS, NEUTRAL, downsample, layout


def spread_range(frame: pd.DataFrame) -> go.Figure:
    """Per asset and hour, how far apart the dearest and cheapest exchange were, in bps.

    Expects asset_id, open_at, spread_bps (repeated on every exchange row of an hour).
    """
    hourly = frame.drop_duplicates(["asset_id", "open_at"])
    fig = go.Figure()
    for asset_id, rows in hourly.groupby("asset_id", sort=True):
        rows = downsample(rows.sort_values("open_at"), "open_at", "spread_bps")
        fig.add_trace(
            go.Scatter(x=rows["open_at"], y=rows["spread_bps"], mode="lines", name=str(asset_id))
        )
    fig.update_yaxes(title_text="max - min close (bps)", rangemode="tozero")
    return layout(fig, "Spread between the dearest and cheapest exchange")


def deviation_from_consensus(frame: pd.DataFrame) -> go.Figure:
    """Each exchange's close against the consensus (median) USD price, in bps, over time.

    One panel per asset, one colour per exchange. Expects asset_id, open_at, exchange_id,
    deviation_bps.
    """
    asset_ids = sorted(frame["asset_id"].unique())
    fig = make_subplots(
        rows=len(asset_ids),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        subplot_titles=[str(a) for a in asset_ids],
    )
    for row, asset_id in enumerate(asset_ids, start=1):
        rows_of_asset = frame[frame["asset_id"] == asset_id]
        for exchange_id, rows in rows_of_asset.groupby("exchange_id", sort=True):
            rows = downsample(rows.sort_values("open_at"), "open_at", "deviation_bps")
            fig.add_trace(
                go.Scatter(
                    x=rows["open_at"],
                    y=rows["deviation_bps"],
                    mode="lines",
                    name=str(exchange_id),
                    legendgroup=str(exchange_id),
                    showlegend=row == 1,
                    line={"color": EXCHANGE_COLOURS.get(str(exchange_id), NEUTRAL), "width": 1},
                ),
                row=row,
                col=1,
            )
        fig.update_yaxes(title_text="bps", row=row, col=1)
    return layout(
        fig,
        "Each exchange against the consensus price (bps)",
        height=max(320, 220 * len(asset_ids) + 80),
    )


def brazil_premium(frame: pd.DataFrame) -> go.Figure:
    """Premium of Mercado Bitcoin's BRL price over the global USD price times USD/BRL, in %."""
    fig = go.Figure()
    for asset_id, rows in frame.groupby("asset_id", sort=True):
        rows = downsample(rows.sort_values("open_at"), "open_at", "premium_pct")
        fig.add_trace(
            go.Scatter(x=rows["open_at"], y=rows["premium_pct"], mode="lines", name=str(asset_id))
        )
    fig.add_hline(y=0, line_color=NEUTRAL, line_dash="dot")
    fig.update_yaxes(title_text="premium (%)")
    return layout(fig, "Brazil premium (Mercado Bitcoin vs global)")
