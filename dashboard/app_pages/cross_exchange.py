"""Cross-exchange: how far apart the exchanges' prices are, and the Brazil premium.

It also reconciles every price source with the consensus.
"""

import pandas as pd
import streamlit as st

from dashboard import charts, currency, data, filters, ui

st.title("Cross-exchange")
ui.require_warehouse()
choice = filters.sidebar()
if not choice.assets:
    st.info("Choose at least one asset in the sidebar.")
    st.stop()

spreads = data.spreads(choice.assets, choice.start, choice.end)
spreads_as_of = ui.latest(spreads, "open_at")
if not spreads.empty:  # prices in the display currency at the rate in force at the close
    spreads = currency.convert(
        spreads,
        ("close_price", "consensus_close_price_usd", "min_close_price_usd", "max_close_price_usd"),
        choice.currency,
        at=spreads["open_at"] + pd.Timedelta(hours=1),
        quotes=spreads["quote_currency"],
    ).rename(
        columns={
            name: name.replace("_usd", f"_{choice.currency.lower()}")
            for name in ("consensus_close_price_usd", "min_close_price_usd", "max_close_price_usd")
        }
    )

st.subheader("Spreads between exchanges")
st.caption(
    "Closed hourly closes of the exchanges quoting in USD or USDT (USDT counted as USD); "
    "the consensus is their median. The open hour is left out: its candles were fetched "
    f"at different moments, so they are not prices at one instant. Prices in {choice.currency}."
)
if spreads.empty:
    ui.empty("cross-exchange spreads for the chosen assets and dates")
else:
    daily = data.spreads_are_daily(choice.start, choice.end)
    if daily:
        st.caption(
            "Over this many hours, a point a day: its last closed hour's close, its widest "
            "spread and each exchange's largest deviation (a shorter range shows every hour)."
        )
    ui.chart(ui.figure(charts.spread_range, spreads), spreads_as_of, key="spread_range")
    ui.chart(ui.figure(charts.deviation_from_consensus, spreads), spreads_as_of, key="deviation")
    divergent = spreads[spreads["is_divergent"].fillna(False).astype(bool)]
    if daily:
        st.caption(
            f"{len(divergent)} exchange-days with an hour deviating from the consensus beyond "
            "the threshold."
        )
    else:
        st.caption(
            f"{len(divergent)} exchange-hours deviate from the consensus beyond the threshold."
        )
    with st.expander("Spreads table"):
        ui.table(spreads, "cross exchange spreads", spreads_as_of)

st.subheader("Brazil premium")
st.caption(
    "Mercado Bitcoin's closed BRL hourly close against the consensus USD price converted at "
    "the USD→BRL rate in force at the hour's close: the newest ECB rate published by then "
    "(16:00 CET), carried forward over weekends and holidays, never a later one."
)
premium = data.brazil_premium(choice.assets, choice.start, choice.end)
if premium.empty:
    ui.empty("Brazil premium for the chosen assets and dates")
else:
    premium_as_of = ui.latest(premium, "open_at")
    ui.chart(ui.figure(charts.brazil_premium, premium), premium_as_of, key="premium")
    with st.expander("Brazil premium table"):
        ui.table(premium, "brazil premium", premium_as_of)

st.subheader("Price sources against the consensus")
st.caption(
    "Every exchange's closed hourly close and CoinGecko's price points, checked against the "
    "consensus: beyond the threshold a source is divergent (a warning); divergent for more "
    "candles in a row than allowed it fails the pipeline's blocking check."
)
divergences = data.price_divergences(choice.assets, choice.start, choice.end)
if divergences.empty:
    st.success("Every price source agrees with the consensus in these dates.", icon="✅")
else:
    sustained = int(divergences["is_sustained_divergence"].fillna(False).astype(bool).sum())
    st.caption(f"{len(divergences)} divergent observations, {sustained} of them sustained.")
    ui.table(divergences, "price divergences", ui.latest(divergences, "observed_at"))
