"""criptopipe dashboard: the router. Each page lives in ``app_pages/``.

Run it with ``criptopipe dashboard`` (see ``dashboard/server.py`` for the command line).
"""

import streamlit as st

st.set_page_config(page_title="criptopipe", page_icon="📈", layout="wide")

pages = [
    st.Page(
        "app_pages/market_overview.py",
        title="Market overview",
        icon="🌐",
        url_path="market_overview",
        default=True,
    ),
    st.Page("app_pages/asset.py", title="Asset", icon="🕯️", url_path="asset"),
    st.Page(
        "app_pages/cross_exchange.py", title="Cross-exchange", icon="🔀", url_path="cross_exchange"
    ),
    st.Page("app_pages/risk.py", title="Risk", icon="⚠️", url_path="risk"),
    st.Page("app_pages/data_health.py", title="Data health", icon="🩺", url_path="data_health"),
]

st.navigation(pages).run()
