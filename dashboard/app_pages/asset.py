"""Asset: candles with volume on one exchange, technical indicators, returns and drawdown.

Candles are 1h or 1d and shown in the display currency.
"""

import streamlit as st

from dashboard import charts, currency, data, filters, ui

st.title("Asset")
ui.require_warehouse()
choice = filters.sidebar()

known = data.assets()
asset_ids = list(known["asset_id"]) if not known.empty else list(choice.assets)
if not asset_ids:
    ui.empty("assets in dim_assets")
    st.stop()
preferred = [a for a in choice.assets if a in asset_ids]
default_asset = preferred[0] if preferred else asset_ids[0]

pick_asset, pick_exchange, pick_interval = st.columns([2, 2, 3])
asset_id = pick_asset.selectbox(
    "Asset", asset_ids, index=asset_ids.index(default_asset), key="asset.asset_id"
)
exchange_ids = data.asset_exchanges(asset_id)
if not exchange_ids:
    ui.empty(f"candles for {asset_id}")
    st.stop()
exchange_id = pick_exchange.selectbox("Exchange", exchange_ids, key="asset.exchange_id")
picked = (
    pick_interval.segmented_control(
        "Interval", list(data.CANDLE_INTERVALS), default="1d", key="asset.interval"
    )
    or "1d"
)
interval = data.chart_interval(picked, choice.start, choice.end)

candles = data.candles(asset_id, exchange_id, interval, choice.start, choice.end)
st.subheader(f"{asset_id} on {exchange_id}, {interval} candles in {choice.currency}")
if interval != picked:
    st.caption(
        f"{picked} candles over these dates would be more than {data.MAX_POINTS:,} points: "
        f"shown as {interval} candles; pick fewer days for {picked}."
    )
if candles.empty:
    ui.empty(
        f"{interval} candles of {asset_id} on {exchange_id} between "
        f"{choice.start} and {choice.end}",
        "pick other dates, or run `make demo`",
    )
else:
    quote = str(candles["quote_currency"].iloc[-1])
    shown = currency.convert(
        candles,
        ("open_price", "high_price", "low_price", "close_price"),
        choice.currency,
        at=candles["close_at"],
        quotes=candles["quote_currency"],
    )
    if shown["fx_factor"].isna().any():
        st.warning(
            f"Some candles have no {quote}→{choice.currency} rate in force at their close "
            f"yet; they are not shown in {choice.currency}."
        )
    st.caption(
        f"{exchange_id} quotes {asset_id} in {quote}; other currencies are converted at the "
        "ECB rate in force at each candle's close (USDT counted as USD). The grey candle "
        "is still open: its prices are provisional."
    )
    title = f"{asset_id}/{choice.currency} — {exchange_id} ({interval})"
    ui.chart(
        ui.figure(charts.candlestick, shown, title, choice.currency),
        ui.latest(candles, "open_at"),
        key="candles",
    )
    with st.expander("Candles table"):
        ui.table(
            shown,
            f"{asset_id} {exchange_id} {interval} {choice.currency}",
            ui.latest(candles, "open_at"),
        )

st.subheader("Returns and drawdown (in USD)")
returns = data.daily_returns((asset_id,), choice.start, choice.end)
if returns.empty:
    ui.empty(f"daily returns for {asset_id}")
else:
    ui.chart(
        ui.figure(charts.returns_and_drawdown, returns),
        ui.latest(returns, "price_date"),
        key="returns",
    )

st.subheader("Technical indicators")
indicators = data.technical_indicators(asset_id, exchange_id, interval, choice.start, choice.end)
if indicators.empty:
    ui.empty(f"{interval} indicators of {asset_id} on {exchange_id} (fct_technical_indicators)")
else:
    quote = str(indicators["quote_currency"].iloc[-1])
    st.caption(
        f"Computed with pandas from the {interval} candles, in {exchange_id}'s quote currency "
        f"{quote}: Wilder RSI(14), MACD(12, 26, 9), Bollinger bands (20 candles, 2 standard "
        "deviations)."
    )
    ui.chart(
        ui.figure(
            charts.technical_indicators,
            indicators,
            f"{asset_id}/{quote} — {exchange_id} ({interval})",
            quote,
        ),
        ui.latest(indicators, "open_at"),
        key="indicators",
    )
