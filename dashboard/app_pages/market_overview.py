"""Market overview: total market cap, BTC/ETH dominance, Fear & Greed, top movers."""

import streamlit as st

from dashboard import currency, data, filters, metrics, overview, ui

st.title("Market overview")
ui.require_warehouse()
choice = filters.sidebar()
shown_in = choice.currency

# Every price in the display currency at the rate in force when it held, the tiles and the
# figures: worked out once for these reads (dashboard/overview.py).
view = ui.derived(
    overview.market_overview,
    data.market_snapshots(choice.start, choice.end),
    data.sentiment(choice.start, choice.end),
    data.top_movers(choice.assets),
    data.asset_market_caps(choice.assets),
    data.market_cap_daily(choice.assets, choice.start, choice.end),
    shown_in,
)
market_cap, cap_change, btc, eth = view.market_cap, view.cap_change, view.btc, view.eth
fear_greed = view.fear_greed

cap_tile, btc_tile, eth_tile, fng_tile = st.columns(4, border=True)
cap_tile.metric(
    "Total market cap",
    metrics.format_money(market_cap.value, currency.symbol(shown_in), shown_in),
    None if cap_change.value is None else f"{cap_change.value:+.2f}% 24h",
)
btc_tile.metric(
    "BTC dominance",
    "-" if btc.value is None else f"{btc.value:.1f}%",
    None if btc.delta is None else f"{btc.delta:+.2f} pp 24h",
    delta_color="off",
)
eth_tile.metric(
    "ETH dominance",
    "-" if eth.value is None else f"{eth.value:.1f}%",
    None if eth.delta is None else f"{eth.delta:+.2f} pp 24h",
    delta_color="off",
)
fng_tile.metric(
    "Fear & Greed",
    "-" if fear_greed.value is None else f"{fear_greed.value:.0f}",
    None if fear_greed.delta is None else f"{fear_greed.delta:+.0f} vs the day before",
)
st.caption(
    f"Market {ui.as_of_text(market_cap.as_of)}; Fear & Greed {ui.as_of_text(fear_greed.as_of)}"
    f"; prices in {shown_in} at the rate in force at each point in time"
)

st.subheader("Market cap and dominance")
if view.cap_by_asset is None:
    ui.empty("daily market caps (CoinGecko market_chart) for these assets and dates")
else:
    ui.chart(view.cap_by_asset.figure, view.cap_by_asset.as_of, key="market_cap_daily")
if view.snapshot_count == 0:
    ui.empty("market snapshots for these dates")
elif view.cap_history is None:
    st.caption(
        "Total market cap and dominance come from CoinGecko's /global, which has no history: "
        "that chart grows by one point per ingestion run. The latest values are in the tiles."
    )
else:
    ui.chart(view.cap_history.figure, view.cap_history.as_of, key="market_cap")
if view.caps is not None:
    ui.chart(view.caps.figure, view.caps.as_of, key="caps")

gauge, history = st.columns([1, 2])
with gauge:
    st.subheader("Fear & Greed")
    if view.fear_greed_gauge is None:
        ui.empty("Fear & Greed values")
    else:
        ui.chart(view.fear_greed_gauge.figure, view.fear_greed_gauge.as_of, key="fear_greed_gauge")
with history:
    st.subheader("Fear & Greed history")
    if view.fear_greed_history is None:
        ui.empty("Fear & Greed history for these dates")
    else:
        ui.chart(
            view.fear_greed_history.figure, view.fear_greed_history.as_of, key="fear_greed_history"
        )

st.subheader("Top movers, last 24 hours")
if view.movers is None:
    ui.empty("hourly consensus prices for the chosen assets")
else:
    st.caption(
        "The consensus price (median of the exchanges' closed hourly candles) of the latest "
        f"closed hour against the same hour a day earlier, in {shown_in}."
    )
    ui.chart(view.movers.figure, view.movers.as_of, key="top_movers")
    ui.table(view.movers_table, f"top movers 24h {shown_in}", view.movers.as_of)
