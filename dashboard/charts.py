"""Pure Plotly figure builders: a DataFrame (and a few options) in, a ``go.Figure`` out.

Nothing here queries, caches or touches Streamlit, so every builder is unit-tested on
plain frames. Column names are the marts' (see ``dashboard/data.py``).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

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


def _layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
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
            go.Bar(
                x=frame["sentiment_date"],
                y=returns,
                name="BTC return (%)",
                marker_color=[UP if r >= 0 else DOWN for r in returns.fillna(0)],
                opacity=0.45,
            ),
            secondary_y=True,
        )
    fig.update_yaxes(title_text="index", range=[0, 100], secondary_y=False)
    fig.update_yaxes(title_text="BTC return (%)", secondary_y=True, showgrid=False)
    return _layout(fig, "Fear & Greed and BTC's daily return")


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
    return _layout(fig, "Total market cap and dominance")


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
    return _layout(fig, "Market cap of the tracked assets, daily")


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
    return _layout(fig, "Market cap by asset", height=320)


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
    return _layout(fig, "Top movers, last 24 hours", height=max(260, 40 * len(frame) + 80))


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
        go.Bar(
            x=frame["open_at"],
            y=frame["volume"],
            name="volume",
            marker_color=colours,
            opacity=0.6,
        ),
        row=2,
        col=1,
    )
    fig.update_layout(xaxis_rangeslider_visible=False, showlegend=False)
    fig.update_yaxes(title_text=currency, tickprefix=CURRENCY_SYMBOLS.get(currency, ""), row=1)
    fig.update_yaxes(title_text="volume", row=2)
    return _layout(fig, title, height=560)


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
    return _layout(fig, "Returns and drawdown", height=520)


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
    return _layout(fig, f"Rolling {window}-day volatility")


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
    return _layout(fig, "30-day return correlation", height=max(320, 45 * len(matrix) + 120))


def spread_range(frame: pd.DataFrame) -> go.Figure:
    """Per asset and hour, how far apart the dearest and cheapest exchange were, in bps.

    Expects asset_id, open_at, spread_bps (repeated on every exchange row of an hour).
    """
    hourly = frame.drop_duplicates(["asset_id", "open_at"])
    fig = go.Figure()
    for asset_id, rows in hourly.groupby("asset_id", sort=True):
        rows = rows.sort_values("open_at")
        fig.add_trace(
            go.Scatter(x=rows["open_at"], y=rows["spread_bps"], mode="lines", name=str(asset_id))
        )
    fig.update_yaxes(title_text="max - min close (bps)", rangemode="tozero")
    return _layout(fig, "Spread between the dearest and cheapest exchange")


EXCHANGE_COLOURS = {
    "binance": "#f0b90b",
    "kraken": "#5741d9",
    "coinbase": "#0052ff",
    "mercadobitcoin": "#16a34a",
}


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
            rows = rows.sort_values("open_at")
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
    return _layout(
        fig,
        "Each exchange against the consensus price (bps)",
        height=max(320, 220 * len(asset_ids) + 80),
    )


def brazil_premium(frame: pd.DataFrame) -> go.Figure:
    """Premium of Mercado Bitcoin's BRL price over the global USD price times USD/BRL, in %."""
    fig = go.Figure()
    for asset_id, rows in frame.groupby("asset_id", sort=True):
        rows = rows.sort_values("open_at")
        fig.add_trace(
            go.Scatter(x=rows["open_at"], y=rows["premium_pct"], mode="lines", name=str(asset_id))
        )
    fig.add_hline(y=0, line_color=NEUTRAL, line_dash="dot")
    fig.update_yaxes(title_text="premium (%)")
    return _layout(fig, "Brazil premium (Mercado Bitcoin vs global)")


def freshness(frame: pd.DataFrame) -> go.Figure:
    """How old each source endpoint's newest rows are, against its warn and error thresholds.

    One row per endpoint: a dot at the hours since rows were last loaded, coloured by its
    freshness status, and the thresholds as ticks (amber: warn after, red: error after).
    An endpoint that never loaded shows its status at zero. Expects source_name,
    endpoint_name, hours_since_fetch, freshness_status; warn_after_hours and
    error_after_hours when known.
    """
    ordered = frame.sort_values(["source_name", "endpoint_name"], ascending=False)
    labels = ordered["source_name"] + " / " + ordered["endpoint_name"]
    statuses = ordered["freshness_status"].astype(str).str.lower()
    fig = go.Figure()
    for column, name, colour in (
        ("warn_after_hours", "warn after", STATUS_COLOURS["warn"]),
        ("error_after_hours", "error after", STATUS_COLOURS["error"]),
    ):
        if column in ordered:
            fig.add_trace(
                go.Scatter(
                    x=ordered[column],
                    y=labels,
                    mode="markers",
                    name=name,
                    marker={
                        "symbol": "line-ns-open",
                        "size": 18,
                        "color": colour,
                        "line": {"width": 3},
                    },
                )
            )
    fig.add_trace(
        go.Scatter(
            x=ordered["hours_since_fetch"].fillna(0),
            y=labels,
            mode="markers+text",
            marker={"size": 14, "color": [STATUS_COLOURS.get(s, NEUTRAL) for s in statuses]},
            text=statuses,
            textposition="middle right",
            name="hours since last load",
        )
    )
    fig.update_xaxes(title_text="hours since rows were last loaded", rangemode="tozero")
    fig.update_layout(hovermode="closest")
    return _layout(fig, "Freshness per source", height=max(280, 30 * len(frame) + 120))


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
    fig.add_trace(
        go.Bar(x=x, y=frame["macd_histogram"], name="histogram", marker_color=colours), 3, 1
    )
    fig.add_trace(go.Scatter(x=x, y=frame["macd"], name="MACD"), 3, 1)
    fig.add_trace(go.Scatter(x=x, y=frame["macd_signal"], name="signal"), 3, 1)
    return _layout(fig, title, height=680)


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
    return _layout(fig, "EWMA volatility (RiskMetrics, lambda 0.94)")


def lake_volume(frame: pd.DataFrame) -> go.Figure:
    """Body bytes stored per UTC day, stacked by source (responses in the hover)."""
    fig = go.Figure()
    by_source = frame.groupby(["day", "source"], as_index=False)[["body_bytes", "responses"]].sum()
    for source, rows in by_source.groupby("source", sort=True):
        rows = rows.sort_values("day")
        fig.add_trace(
            go.Bar(
                x=rows["day"],
                y=rows["body_bytes"] / 1e6,
                name=str(source),
                customdata=rows["responses"],
                hovertemplate="%{y:.2f} MB in %{customdata} responses",
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="body MB")
    return _layout(fig, "Lake: body bytes per day and source")
