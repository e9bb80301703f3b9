"""Adding an asset is configuration only: AVAX and PEPE, which no hand-written catalogue
ever held, are set in CRIPTOPIPE_ASSETS (with BTC) for a warehouse of their own; the
simulator's listings resolve them, ingestion requests their pairs, dbt maps their candles
and the dashboard offers and draws them.

Lean on purpose: three assets, three days of 1h and 1d candles, and only the dbt models
(with their tests) that the asset pickers and the Asset page read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from pipeline import Warehouse, build_warehouse, drop_warehouse
from streamlit.testing.v1 import AppTest

from ingestion.services import Endpoints
from ingestion.settings import Settings

ASSETS = "BTC,AVAX,PEPE=pepe"  # as a user writes CRIPTOPIPE_ASSETS
MODELS = ("+dim_assets", "+dim_exchanges", "+fct_candles_daily", "+fct_candles_hourly")


@pytest.fixture(scope="module")
def any_asset_warehouse(
    endpoints: Endpoints, base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    warehouse = build_warehouse(
        base_settings,
        endpoints,
        f"criptopipe_dash_any_asset_{os.getpid()}",
        tmp_path_factory.mktemp("any_asset"),
        days=3,
        assets=tuple(ASSETS.split(",")),
        candle_intervals=("1h", "1d"),
        select=(*MODELS, "+fct_fx_rates_hourly"),
        indicators=False,
    )
    yield warehouse
    drop_warehouse(endpoints, warehouse)


def test_configured_assets_outside_any_catalogue_reach_the_dashboard(
    any_asset_warehouse: Warehouse,
    use_database: Callable[[str], None],
    open_page: Callable[..., AppTest],
    page_text: Callable[[AppTest], str],
) -> None:
    use_database(any_asset_warehouse.database)
    assets = {
        row[0]: row[1:]
        for row in any_asset_warehouse.query(
            "select asset_id, coingecko_id, asset_name, exchange_count from marts.dim_assets"
            " where is_tracked"
        )
    }
    assert set(assets) == {"BTC", "AVAX", "PEPE"}
    # CoinGecko has namesakes for both (avalanche-wormhole, pepe-2): the rank chose AVAX's
    # coin, the configuration PEPE's
    assert assets["AVAX"] == ("avalanche-2", "Avalanche", 3)  # not on Mercado Bitcoin
    assert assets["PEPE"] == ("pepe", "Pepe", 3)  # not on Coinbase
    candles = dict(
        any_asset_warehouse.query(
            "select asset_id, count(distinct exchange_id) from marts.fct_candles_daily"
            " where asset_id in ('AVAX', 'PEPE') group by asset_id"
        )
    )
    assert candles == {"AVAX": 3, "PEPE": 3}
    at = open_page("asset")
    assert "AVAX" in at.selectbox(key="asset.asset_id").options
    at.selectbox(key="asset.asset_id").select("AVAX").run()
    assert not at.exception, at.exception
    assert "AVAX on" in page_text(at)
    assert at.get("plotly_chart")
