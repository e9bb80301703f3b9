"""Adding an asset is configuration only: AVAX and PEPE, which no hand-written catalogue
ever held, are set in CRIPTOPIPE_ASSETS for the demo warehouse (conftest.DEMO_ASSETS);
the simulator's listings resolve them, ingestion requests their pairs, dbt maps their
candles and the dashboard offers and draws them."""

from __future__ import annotations

from collections.abc import Callable

from pipeline import Warehouse
from streamlit.testing.v1 import AppTest


def test_configured_assets_outside_any_catalogue_reach_the_dashboard(
    on_demo_warehouse: Warehouse,
    open_page: Callable[..., AppTest],
    page_text: Callable[[AppTest], str],
) -> None:
    assets = {
        row[0]: row[1:]
        for row in on_demo_warehouse.query(
            "select asset_id, coingecko_id, asset_name, exchange_count from marts.dim_assets"
            " where is_tracked"
        )
    }
    assert set(assets) == {"BTC", "ETH", "SOL", "XRP", "AVAX", "PEPE"}
    # CoinGecko has namesakes for both (avalanche-wormhole, pepe-2): the rank chose AVAX's
    # coin, the configuration PEPE's
    assert assets["AVAX"] == ("avalanche-2", "Avalanche", 3)  # not on Mercado Bitcoin
    assert assets["PEPE"] == ("pepe", "Pepe", 3)  # not on Coinbase
    candles = dict(
        on_demo_warehouse.query(
            "select asset_id, count(distinct exchange_id) from marts.fct_candles_daily"
            " where asset_id in ('AVAX', 'PEPE') group by asset_id"
        )
    )
    assert candles == {"AVAX": 3, "PEPE": 3}
    at = open_page("asset")
    at.selectbox(key="asset.asset_id").select("AVAX").run()
    assert not at.exception, at.exception
    assert "AVAX on" in page_text(at)
    assert at.get("plotly_chart")
    assert "AVAX" in at.selectbox(key="asset.asset_id").options
