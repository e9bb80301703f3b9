"""Figures of the Risk page: returns, drawdown, volatility and the correlation heatmap."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.style import layout


def returns_and_drawdown(frame: pd.DataFrame) -> go.Figure:
    """Cumulative return (top) and drawdown from the running peak (bottom), one line per asset.

    Expects asset_id, price_date, simple_return, drawdown (a fraction, ≤ 0).
    """
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=("cumulative return (%)", "drawdown (%)"),
    )
    for asset_id, rows in frame.groupby("asset_id", sort=True):
        rows = rows.sort_values("price_date")
        cumulative = ((1 + rows["simple_return"].fillna(0)).cumprod() - 1) * 100
        fig.add_trace(
            go.Scatter(
                x=rows["price_date"], y=cumulative, name=str(asset_id), legendgroup=str(asset_id)
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=rows["price_date"],
                y=rows["drawdown"] * 100,
                name=str(asset_id),
                legendgroup=str(asset_id),
                showlegend=False,
                fill="tozeroy",
            ),
            row=2,
            col=1,
        )
    return layout(fig, "Returns and drawdown", height=520)


def volatility(frame: pd.DataFrame, column: str = "volatility_30d") -> go.Figure:
    """Rolling annualised volatility in %, one line per asset."""
    window = "7" if "7d" in column else "30"
    fig = go.Figure()
    for asset_id, rows in frame.groupby("asset_id", sort=True):
        rows = rows.sort_values("price_date")
        fig.add_trace(
            go.Scatter(x=rows["price_date"], y=rows[column] * 100, name=str(asset_id), mode="lines")
        )
    fig.update_yaxes(title_text="annualised volatility (%)")
    return layout(fig, f"Rolling {window}-day volatility")


def correlation_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """A symmetric asset-by-asset matrix from pair rows (asset_id, other_asset_id, correlation_30d).

    The diagonal is 1; a pair given once fills both cells.
    """
    assets = sorted(set(frame["asset_id"]) | set(frame["other_asset_id"]))
    matrix = pd.DataFrame(float("nan"), index=assets, columns=assets)
    for row in frame.itertuples(index=False):
        matrix.loc[row.asset_id, row.other_asset_id] = row.correlation_30d
        matrix.loc[row.other_asset_id, row.asset_id] = row.correlation_30d
    for asset in assets:
        matrix.loc[asset, asset] = 1.0
    return matrix


def correlation_heatmap(frame: pd.DataFrame) -> go.Figure:
    """Heatmap of the 30-day return correlations, -1 (red) to +1 (blue), values printed."""
    matrix = correlation_matrix(frame)
    fig = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(),
            x=list(matrix.columns),
            y=list(matrix.index),
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            text=[["" if pd.isna(v) else f"{v:.2f}" for v in row] for row in matrix.to_numpy()],
            texttemplate="%{text}",
            colorbar={"title": "corr"},
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(hovermode="closest")
    return layout(fig, "30-day return correlation", height=max(320, 45 * len(matrix) + 120))


def ewma_volatility(frame: pd.DataFrame) -> go.Figure:
    """RiskMetrics EWMA volatility (annualised, %) per asset."""
    fig = go.Figure()
    for asset_id, rows in frame.groupby("asset_id", sort=True):
        rows = rows.sort_values("price_date")
        fig.add_trace(
            go.Scatter(
                x=rows["price_date"],
                y=rows["ewma_volatility_annualized"] * 100,
                name=f"{asset_id} ({rows['exchange_id'].iloc[0]})",
                mode="lines",
            )
        )
    fig.update_yaxes(title_text="annualised volatility (%)")
    return layout(fig, "EWMA volatility (RiskMetrics, lambda 0.94)")
