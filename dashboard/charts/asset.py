"""Figures of the Asset page: the candlestick with volume and the technical indicators."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.style import (
    CURRENCY_SYMBOLS,
    DOWN,
    NEUTRAL,
    PROVISIONAL,
    UP,
    coloured_bars,
    layout,
)


def candlestick(frame: pd.DataFrame, title: str, currency: str = "USD") -> go.Figure:
    """Candles (top) with volume bars (bottom) sharing the time axis.

    Prices are already in ``currency`` (``dashboard.currency.convert``). Expects open_at,
    open_price, high_price, low_price, close_price, volume and, when present, is_closed: a
    still-open candle is drawn apart, grey and named "open (provisional)", since its close is
    the price at its fetch, not at its close.
    """
    closed = frame["is_closed"].fillna(True).astype(bool) if "is_closed" in frame else None
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.03
    )
    parts = [(frame, f"price ({currency})", UP, DOWN)]
    if closed is not None and not closed.all():
        parts = [
            (frame[closed], f"price ({currency})", UP, DOWN),
            (frame[~closed], "open (provisional)", PROVISIONAL, PROVISIONAL),
        ]
    for prices, name, up, down in parts:
        fig.add_trace(
            go.Candlestick(
                x=prices["open_at"],
                open=prices["open_price"],
                high=prices["high_price"],
                low=prices["low_price"],
                close=prices["close_price"],
                name=name,
                increasing_line_color=up,
                decreasing_line_color=down,
            ),
            row=1,
            col=1,
        )
    rising = frame["close_price"] >= frame["open_price"]
    colours = [UP if r else DOWN for r in rising]
    if closed is not None:
        colours = [c if final else PROVISIONAL for c, final in zip(colours, closed, strict=True)]
    fig.add_trace(
        coloured_bars(colours, x=frame["open_at"], y=frame["volume"], name="volume", opacity=0.6),
        row=2,
        col=1,
    )
    fig.update_layout(xaxis_rangeslider_visible=False, showlegend=False)
    fig.update_yaxes(title_text=currency, tickprefix=CURRENCY_SYMBOLS.get(currency, ""), row=1)
    fig.update_yaxes(title_text="volume", row=2)
    return layout(fig, title, height=560)


def technical_indicators(frame: pd.DataFrame, title: str, currency: str) -> go.Figure:
    """Close with Bollinger bands, RSI(14) with its 30/70 lines, MACD with signal and histogram.

    Three panels, top to bottom. Expects the columns of ``data.technical_indicators``.
    """
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.05,
        row_heights=[0.5, 0.25, 0.25],
        subplot_titles=(f"close and Bollinger bands (20, 2), {currency}", "RSI (14)", "MACD"),
    )
    x = frame["open_at"]
    band = {"color": NEUTRAL, "width": 1}
    fig.add_trace(go.Scatter(x=x, y=frame["bollinger_upper"], name="upper band", line=band), 1, 1)
    fig.add_trace(
        go.Scatter(
            x=x, y=frame["bollinger_lower"], name="lower band", line=band, fill="tonexty",
            fillcolor="rgba(100,116,139,0.12)",
        ),
        1,
        1,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=x, y=frame["bollinger_middle"], name="20-candle mean", line=band), 1, 1
    )
    fig.add_trace(go.Scatter(x=x, y=frame["close_price"], name="close"), 1, 1)
    fig.add_trace(go.Scatter(x=x, y=frame["rsi_14"], name="RSI"), 2, 1)
    for level in (30, 70):
        fig.add_hline(y=level, line={"dash": "dot", "color": NEUTRAL}, row=2, col=1)
    fig.update_yaxes(range=[0, 100], row=2, col=1)
    colours = [UP if v >= 0 else DOWN for v in frame["macd_histogram"].fillna(0)]
    fig.add_trace(coloured_bars(colours, x=x, y=frame["macd_histogram"], name="histogram"), 3, 1)
    fig.add_trace(go.Scatter(x=x, y=frame["macd"], name="MACD"), 3, 1)
    fig.add_trace(go.Scatter(x=x, y=frame["macd_signal"], name="signal"), 3, 1)
    return layout(fig, title, height=680)
