"""Every page against marts built by the real pipeline (simulator → ingestion → dbt)."""

from __future__ import annotations

import pytest

PAGES = ["market_overview", "asset", "cross_exchange", "risk", "data_health"]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_charts_with_as_of(page, on_demo_warehouse, open_page, page_text):
    at = open_page(page)
    assert not at.exception, at.exception
    text = page_text(at)
    assert "No data yet" not in text
    assert "No " not in "\n".join(str(i.value) for i in at.info), text  # no empty section
    charts = at.get("plotly_chart")
    assert charts, text
    assert text.count("as of") >= len(charts), "every chart says how fresh its data is"


def test_market_overview_kpis(on_demo_warehouse, open_page):
    at = open_page("market_overview")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Total market cap"].startswith("$")
    assert metrics["Total market cap"][-1] in "TBM"
    assert 0 < float(metrics["BTC dominance"].rstrip("%")) < 100
    assert 0 <= float(metrics["Fear & Greed"]) <= 100
    movers = at.dataframe[0].value
    assert set(movers["asset_id"]) == {"BTC", "ETH", "SOL"}  # the default asset filter
    assert movers["change_pct"].is_monotonic_decreasing


def test_every_table_has_a_csv_download(on_demo_warehouse, open_page):
    for page in PAGES:
        at = open_page(page)
        assert len(at.get("download_button")) >= len(at.dataframe), page
