"""Cross-exchange: how far apart the exchanges' prices are, and the Brazil premium."""

import streamlit as st

from dashboard import charts, data, filters, ui

st.title("Cross-exchange")
ui.require_warehouse()
choice = filters.sidebar(currency=False)
if not choice.assets:
    st.info("Choose at least one asset in the sidebar.")
    st.stop()

spreads = data.spreads(choice.assets, choice.start, choice.end)
spreads_as_of = ui.latest(spreads, "open_at")

st.subheader("Spreads between exchanges")
st.caption(
    "Hourly closes of the exchanges quoting in USD or USDT (USDT counted as USD); the "
    "consensus is their median."
)
if spreads.empty:
    ui.empty("cross-exchange spreads for the chosen assets and dates")
else:
    ui.chart(charts.spread_range(spreads), spreads_as_of, key="spread_range")
    ui.chart(charts.deviation_from_consensus(spreads), spreads_as_of, key="deviation")
    divergent = spreads[spreads["is_divergent"].fillna(False).astype(bool)]
    st.caption(f"{len(divergent)} exchange-hours deviate from the consensus beyond the threshold.")
    with st.expander("Spreads table"):
        ui.table(spreads, "cross exchange spreads", spreads_as_of)

st.subheader("Brazil premium")
st.caption(
    "Mercado Bitcoin's BRL close against the consensus USD price converted at the USD→BRL "
    "rate in force at the time (ECB rates, carried forward over weekends and holidays)."
)
premium = data.brazil_premium(choice.assets, choice.start, choice.end)
if premium.empty:
    ui.empty("Brazil premium for the chosen assets and dates")
else:
    premium_as_of = ui.latest(premium, "open_at")
    ui.chart(charts.brazil_premium(premium), premium_as_of, key="premium")
    with st.expander("Brazil premium table"):
        ui.table(premium, "brazil premium", premium_as_of)
