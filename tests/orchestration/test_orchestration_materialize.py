"""The whole graph, materialized once in-process against the simulator and the real local
PostgreSQL and FerretDB (what ``criptopipe run --simulator`` does): every asset
materializes and every check — dbt tests and ingestion accounting — passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dagster import DagsterInstance

from orchestration.automation import ALL_ASSETS_JOB
from orchestration.pipeline import report, run_job


@pytest.mark.slow
def test_whole_graph_materializes_and_every_check_passes(orch_env: dict[str, str]) -> None:
    from orchestration.definitions import load_definitions

    defs = load_definitions()

    graph = defs.resolve_asset_graph()
    materializable = {
        k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).is_materializable
    }
    last = datetime.now(UTC).date()
    with DagsterInstance.ephemeral() as instance:
        result = run_job(
            defs, ALL_ASSETS_JOB, start=last - timedelta(days=2), end=last, instance=instance
        )
        outcome: Any = report(result)
        assert len(instance.get_runs()) == 1
    assert result.success, outcome.failures
    assert {a.key for a in outcome.assets if a.status == "materialized"} == materializable
    assert outcome.checks and not outcome.failed_checks, outcome.failed_checks
    assert any(c.asset.startswith("marts/") for c in outcome.checks)
    klines = next(a for a in outcome.assets if a.key == "raw/binance/klines")
    assert klines.figures["fetched"] > 0 and klines.figures["requests"] > 0
