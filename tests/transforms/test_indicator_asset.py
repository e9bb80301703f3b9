"""The pandas asset in the one Definitions: after the candle marts, before the Asset and Risk
pages, in the jobs that rebuild the marts."""

from __future__ import annotations

import pytest
from dagster import AssetKey, Definitions

from orchestration.indicator_assets import CANDLE_MART_KEYS, INDICATORS_KEY


@pytest.fixture(scope="module")
def defs() -> Definitions:
    from orchestration.definitions import load_definitions

    return load_definitions()


def test_lineage_runs_from_the_candle_marts_into_the_asset_and_risk_pages(
    defs: Definitions,
) -> None:
    graph = defs.resolve_asset_graph()
    node = graph.get(INDICATORS_KEY)
    assert node.is_materializable and node.group_name == "marts"
    assert set(CANDLE_MART_KEYS) <= set(node.parent_keys)
    assert {AssetKey(["dashboard", "asset"]), AssetKey(["dashboard", "risk"])} <= set(
        node.child_keys
    )
    assert node.freshness_policy is not None


def test_jobs_that_rebuild_the_marts_include_it(defs: Definitions) -> None:
    for name in ("all_assets", "dbt_daily_build", "ingest_candles_hourly_at_05"):
        job = defs.resolve_job_def(name)
        assert INDICATORS_KEY in job.asset_layer.selected_asset_keys, name


def test_the_lake_page_follows_every_ingestion_asset(defs: Definitions) -> None:
    graph = defs.resolve_asset_graph()
    raw = {
        k
        for k in graph.get_all_asset_keys()
        if k.path[0] == "raw" and graph.get(k).is_materializable
    }
    assert raw and raw <= set(graph.get(AssetKey(["dashboard", "lake"])).parent_keys)
