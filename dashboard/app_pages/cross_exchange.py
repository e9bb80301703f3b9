"""Cross-exchange: how far each exchange's price is from the others, and the Brazil premium."""

import streamlit as st

from dashboard import charts, data, filters, ui

st.title("Cross-exchange")
ui.require_warehouse()
choice = filters.sidebar(currency=False)
if not choice.assets:
    st.info("Choose at least one asset in the sidebar.")
    st.stop()

st.subheader("Spreads between exchanges")
spreads = data.spreads(choice.assets, choice.start, choice.end)
if spreads.empty:
    ui.empty("cross-exchange spreads for the chosen assets and dates")
else:
    ui.chart(charts.spreads(spreads), ui.latest(spreads, "open_at"), key="spreads")
    with st.expander("Spreads table"):
        ui.table(spreads, "cross exchange spreads", ui.latest(spreads, "open_at"))

st.subheader("Brazil premium")
st.caption(
    "Mercado Bitcoin's BRL price against the global USD price converted at the USD→BRL "
    "rate in force at the time (ECB rates, carried forward over weekends)."
)
premium = data.brazil_premium(choice.assets, choice.start, choice.end)
if premium.empty:
    ui.empty("Brazil premium for the chosen assets and dates")
else:
    ui.chart(charts.brazil_premium(premium), ui.latest(premium, "open_at"), key="premium")
    with st.expander("Brazil premium table"):
        ui.table(premium, "brazil premium", ui.latest(premium, "open_at"))
