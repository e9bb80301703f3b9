"""What every figure shares: colours, currency symbols, Fear & Greed bands, the layout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

UP = "#16a34a"
DOWN = "#dc2626"
NEUTRAL = "#64748b"
# fct_pipeline_health.freshness_status, by the thresholds declared on each dbt source.
STATUS_COLOURS = {"fresh": UP, "warn": "#f59e0b", "error": DOWN, "never_loaded": NEUTRAL}

# Fear & Greed bands as alternative.me names them.
FEAR_GREED_BANDS = (
    (0, 25, "Extreme Fear", "#dc2626"),
    (25, 46, "Fear", "#f97316"),
    (46, 55, "Neutral", "#eab308"),
    (55, 76, "Greed", "#84cc16"),
    (76, 100, "Extreme Greed", "#16a34a"),
)

CURRENCY_SYMBOLS = {"USD": "$", "BRL": "R$", "EUR": "€", "GBP": "£", "JPY": "¥"}
PROVISIONAL = "#94a3b8"  # the still-open candle: its prices are not final


MAX_POINTS = 5_000  # points one trace sends to the browser, at most (as data.MAX_POINTS)


def downsample(rows: pd.DataFrame, x: str, y: str, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """The rows of one line trace, at most ``max_points`` of them, in ``x`` order.

    Over ``max_points`` rows (an hourly series over a long range), the span of ``x`` is cut
    into ``max_points // 2`` equal buckets and each keeps its lowest and its highest ``y``:
    the line keeps every spike and every dip the full series has. Rows without ``y`` are
    left out then (a line has nothing to draw there).
    """
    if len(rows) <= max_points:
        return rows
    rows = rows.dropna(subset=[y]).sort_values(x)
    if len(rows) <= max_points:
        return rows
    buckets = max(1, max_points // 2)
    position = rows[x].astype("int64")
    span = max(1, int(position.iloc[-1]) - int(position.iloc[0]))
    bucket = ((position - int(position.iloc[0])) * buckets // (span + 1)).to_numpy()
    grouped = rows[y].groupby(bucket)
    keep = set(grouped.idxmin()) | set(grouped.idxmax())
    return rows[rows.index.isin(list(keep))]


def coloured_bars(colours: Sequence[str], **bar: Any) -> go.Bar:
    """A bar trace with a colour per bar, built without plotly's per-value validation.

    Plotly checks each colour string of ``marker.color`` one by one (~20 µs each: ~80 ms
    for the 4 k volume bars of three days of 1m candles, on every run of the page). The
    colours here are the house constants, so the trace is built unvalidated; the figure
    sent is the same JSON (``tests/dashboard/test_dashboard_charts.py`` checks it).

    Args:
        colours: One colour per bar.
        **bar: The other properties of the ``go.Bar``.

    Returns:
        The trace.
    """
    marker = {**bar.pop("marker", {}), "color": list(colours)}
    return go.Bar(marker=marker, _validate=False, **bar)


def layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    """The house layout: a left-aligned title, tight margins, the legend above the plot.

    Args:
        fig: The figure to lay out (changed in place).
        title: Its title.
        height: Its height in pixels.

    Returns:
        The same figure.
    """
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        # above the plot, right-aligned: below it the legend would cover x-axis titles
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 1, "xanchor": "right"},
        hovermode="x unified",
    )
    return fig


def fear_greed_band(value: float) -> tuple[str, str]:
    """The band name and colour of a Fear & Greed value (0 to 100)."""
    for low, high, name, colour in FEAR_GREED_BANDS:
        if low <= value < high or (high == 100 and value == 100):
            return name, colour
    raise ValueError(f"Fear & Greed value out of range: {value}")


EXCHANGE_COLOURS = {
    "binance": "#f0b90b",
    "kraken": "#5741d9",
    "coinbase": "#0052ff",
    "mercadobitcoin": "#16a34a",
}
