"""criptopipe dashboard: the router. Each page lives in ``app_pages/``.

Every page has its own URL path (``/market_overview``, ``/asset``, ``/cross_exchange``,
``/risk``, ``/data_health``, ``/lake``): the dbt exposures link to them (the Lake page reads
MongoDB, not the marts). The root URL sends the
visitor to the market overview. Start it with ``criptopipe dashboard`` (``dashboard/server.py``).
"""

import streamlit as st

from dashboard.access import require_access

st.set_page_config(page_title="criptopipe", page_icon=":material/monitoring:", layout="wide")
require_access()  # a password or Streamlit login first, when one is configured

market_overview = st.Page(
    "app_pages/market_overview.py",
    title="Market overview",
    icon=":material/public:",
    url_path="market_overview",
)
pages = [
    market_overview,
    st.Page(
        "app_pages/asset.py", title="Asset", icon=":material/candlestick_chart:", url_path="asset"
    ),
    st.Page(
        "app_pages/cross_exchange.py",
        title="Cross-exchange",
        icon=":material/compare_arrows:",
        url_path="cross_exchange",
    ),
    st.Page("app_pages/risk.py", title="Risk", icon=":material/warning:", url_path="risk"),
    st.Page(
        "app_pages/data_health.py",
        title="Data health",
        icon=":material/health_and_safety:",
        url_path="data_health",
    ),
    st.Page("app_pages/lake.py", title="Lake", icon=":material/database:", url_path="lake"),
    # The root URL: a hidden default page that opens the market overview at its own path.
    st.Page(
        lambda: st.switch_page(market_overview),
        title="criptopipe",
        url_path="home",
        default=True,
        visibility="hidden",
    ),
]

st.navigation(pages).run()
