"""Risk: rolling and EWMA volatility, the correlation heatmap and a drawdown table."""

import pandas as pd
import streamlit as st

from dashboard import charts, currency, data, filters, metrics, ui

st.title("Risk")
ui.require_warehouse()
choice = filters.sidebar()
if not choice.assets:
    st.info("Choose at least one asset in the sidebar.")
    st.stop()

returns = data.daily_returns(choice.assets, choice.start, choice.end)

st.subheader("Rolling volatility (of USD returns)")
window = st.segmented_control("Window", ["7 days", "30 days"], default="30 days") or "30 days"
column = "volatility_7d" if window == "7 days" else "volatility_30d"
window_days = 7 if window == "7 days" else 30
if returns.empty:
    ui.empty("daily returns for the chosen assets and dates")
elif returns[column].isna().all():
    days = returns["price_date"].nunique()
    st.info(
        f"Not enough history for {window_days}-day volatility yet: it needs {window_days} "
        f"consecutive days of daily returns, and the chosen dates hold {days} day(s) of prices. "
        "Widen the date range, or load more history (`criptopipe ingest --start YYYY-MM-DD`)."
    )
else:
    ui.chart(
        ui.figure(charts.volatility, returns, column),
        ui.latest(returns, "price_date"),
        key="volatility",
    )

st.subheader("EWMA volatility")
ewma = data.ewma_volatility(choice.assets, choice.start, choice.end)
if ewma.empty:
    ui.empty("EWMA volatility for the chosen assets and dates (fct_technical_indicators)")
else:
    st.caption(
        "RiskMetrics: variance = 0.94 x yesterday's variance + 0.06 x today's squared log "
        "return, on the daily candles of the exchange with the longest USD history of each "
        "asset; reacts faster than the rolling windows."
    )
    ui.chart(
        ui.figure(charts.ewma_volatility, ewma),
        ui.latest(ewma, "price_date"),
        key="ewma_volatility",
    )

st.subheader("Correlation")
correlations = data.correlations(choice.assets, choice.end)
if correlations.empty:
    ui.empty("30-day correlations for the chosen assets (pick two or more)")
else:
    ui.chart(
        ui.figure(charts.correlation_heatmap, correlations),
        ui.latest(correlations, "price_date"),
        key="correlation",
    )

st.subheader("Drawdowns")
if returns.empty:
    ui.empty("daily returns for the chosen assets and dates")
else:
    drawdowns = metrics.drawdown_table(returns)
    # the latest close in the display currency, at the rate in force at that day's close
    drawdowns = currency.convert(
        drawdowns,
        ("close_price_usd",),
        choice.currency,
        at=pd.to_datetime(drawdowns.get("as_of")) + pd.Timedelta(days=1)
        if not drawdowns.empty
        else None,
    ).drop(columns=["fx_factor"], errors="ignore")
    st.caption(
        "Returns, drawdowns and volatility are of the consensus USD price; the close is "
        f"shown in {choice.currency}."
    )
    ui.table(
        drawdowns,
        "drawdowns",
        ui.latest(returns, "price_date"),
        column_config={
            "close_price_usd": st.column_config.NumberColumn(
                f"close ({choice.currency})",
                format=f"{currency.symbol(choice.currency)}%.2f",
            ),
            "period_return_pct": st.column_config.NumberColumn("return (%)", format="%.2f"),
            "current_drawdown_pct": st.column_config.NumberColumn(
                "drawdown now (%)", format="%.2f"
            ),
            "max_drawdown_pct": st.column_config.NumberColumn("max drawdown (%)", format="%.2f"),
            "volatility_30d_pct": st.column_config.NumberColumn("30d vol (%)", format="%.1f"),
        },
    )
