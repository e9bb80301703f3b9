"""Market overview: total market cap, BTC/ETH dominance, Fear & Greed, top movers."""

from datetime import timedelta

import streamlit as st

from dashboard import charts, currency, data, filters, metrics, ui

st.title("Market overview")
ui.require_warehouse()
choice = filters.sidebar()
shown_in = choice.currency

# Every price in the display currency, at the rate in force when it held.
snapshots = data.market_snapshots(choice.start, choice.end)
snapshots = currency.convert(
    snapshots,
    ("total_market_cap_usd", "total_volume_usd"),
    shown_in,
    at=snapshots.get("snapshot_at"),
)
sentiment = data.sentiment(choice.start, choice.end)
movers = data.top_movers(choice.assets)
if not movers.empty:
    now_prices = currency.convert(movers, ("close_price_usd",), shown_in, at=movers["closed_at"])
    day_before = currency.convert(
        movers, ("close_price_usd_24h_ago",), shown_in, at=movers["closed_at_24h_ago"]
    )
    movers = movers.assign(
        close_price_usd=now_prices["close_price_usd"],
        close_price_usd_24h_ago=day_before["close_price_usd_24h_ago"],
    )
    movers["change_pct"] = 100 * (movers["close_price_usd"] / movers["close_price_usd_24h_ago"] - 1)
    movers = movers.sort_values("change_pct", ascending=False)
caps = data.asset_market_caps(choice.assets)
caps = currency.convert(
    caps, ("current_price_usd", "market_cap_usd"), shown_in, at=caps.get("market_data_updated_at")
)
cap_history = data.market_cap_daily(choice.assets, choice.start, choice.end)
cap_history = currency.convert(
    cap_history,
    ("market_cap_usd", "price_usd", "volume_usd"),
    shown_in,
    at=cap_history.get("observed_at"),
)

market_cap = metrics.kpi(snapshots, "snapshot_at", "total_market_cap_usd")
btc = metrics.kpi(snapshots, "snapshot_at", "btc_dominance_pct")
eth = metrics.kpi(snapshots, "snapshot_at", "eth_dominance_pct")
fear_greed = metrics.kpi(sentiment, "sentiment_date", "fear_greed_value", timedelta(days=1))
cap_change = metrics.kpi(snapshots, "snapshot_at", "market_cap_change_pct_24h")

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
if cap_history.empty:
    ui.empty("daily market caps (CoinGecko market_chart) for these assets and dates")
else:
    ui.chart(
        ui.figure(charts.market_cap_by_asset_history, cap_history, shown_in),
        ui.latest(cap_history, "observed_at"),
        key="market_cap_daily",
    )
if snapshots.empty:
    ui.empty("market snapshots for these dates")
elif len(snapshots) < 2:
    st.caption(
        "Total market cap and dominance come from CoinGecko's /global, which has no history: "
        "that chart grows by one point per ingestion run. The latest values are in the tiles."
    )
else:
    ui.chart(
        ui.figure(charts.market_cap_history, snapshots, shown_in),
        ui.latest(snapshots, "snapshot_at"),
        key="market_cap",
    )
if not caps.empty:
    ui.chart(
        ui.figure(charts.market_caps, caps, shown_in),
        ui.latest(caps, "market_data_updated_at"),
        key="caps",
    )

gauge, history = st.columns([1, 2])
with gauge:
    st.subheader("Fear & Greed")
    if fear_greed.value is None:
        ui.empty("Fear & Greed values")
    else:
        previous = None if fear_greed.delta is None else fear_greed.value - fear_greed.delta
        ui.chart(
            ui.figure(charts.fear_greed_gauge, fear_greed.value, previous),
            fear_greed.as_of,
            key="fear_greed_gauge",
        )
with history:
    st.subheader("Fear & Greed history")
    if sentiment.empty:
        ui.empty("Fear & Greed history for these dates")
    else:
        ui.chart(
            ui.figure(charts.fear_greed_history, sentiment),
            ui.latest(sentiment, "sentiment_date"),
            key="fear_greed_history",
        )

st.subheader("Top movers, last 24 hours")
if movers.empty:
    ui.empty("hourly consensus prices for the chosen assets")
else:
    st.caption(
        "The consensus price (median of the exchanges' closed hourly candles) of the latest "
        f"closed hour against the same hour a day earlier, in {shown_in}."
    )
    movers_as_of = ui.latest(movers, "closed_at")
    ui.chart(ui.figure(charts.top_movers, movers), movers_as_of, key="top_movers")
    suffix = shown_in.lower()
    ui.table(
        movers.drop(columns=["fx_factor"], errors="ignore").rename(
            columns={
                "close_price_usd": f"close_price_{suffix}",
                "close_price_usd_24h_ago": f"close_price_{suffix}_24h_ago",
            }
        ),
        f"top movers 24h {shown_in}",
        movers_as_of,
    )
