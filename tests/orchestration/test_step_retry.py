"""A retried ingestion step accounts for its own rows only (issue #12, found by the soak).

Dagster retries a failed or partial ingestion step (``TRANSIENT_RETRY``). The first attempt
here gets an empty page inside its planned range: it loads the other series, fails the
empty one (a hole, the cursor stops before it) and is partial. The retry fetches
everything again and finds the first attempt's rows unchanged. With one ingestion run id
for both attempts, the retry's accounting counted those rows as its own ("holds N rows of
run …, but the run counted 0 inserted and 0 updated") and failed a run that had loaded
everything. Each attempt has its own run id now, and its own row in raw.ingestion_runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from dagster import DagsterInstance, RetryPolicy, materialize
from warehouses import fresh_warehouse

from ingestion.connectors.registry import get_endpoint
from ingestion.services import Services
from ingestion.settings import SOURCES, Settings
from ingestion.simulator import FaultPlan, SimulatorConfig
from orchestration.ingestion_assets import ingestion_asset, ingestion_run_id
from orchestration.partitions import daily_partitions
from orchestration.resources import CriptopipeSettings, IngestionResource
from orchestration.simulator import background_simulator, base_url_env

DAY = datetime(2026, 11, 20, tzinfo=UTC)
SPEC = get_endpoint("binance", "klines")


@pytest.fixture
def retry_settings(
    services: Services, base_settings: Settings, test_db_name: str
) -> Iterator[Settings]:
    with fresh_warehouse(services, base_settings, f"{test_db_name}_retry") as settings:
        yield settings


def test_a_retried_step_counts_only_its_own_rows(
    retry_settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    with background_simulator(SimulatorConfig(seed=3, assets=("BTC",), now=DAY)) as sim:
        env = {
            "CRIPTOPIPE_POSTGRES_DB": retry_settings.postgres_db,
            "CRIPTOPIPE_MONGO_DB": retry_settings.mongo_db,
            "CRIPTOPIPE_ASSETS": "BTC",
            "CRIPTOPIPE_START_DATE": DAY.date().isoformat(),
            "CRIPTOPIPE_HTTP_RATE_LIMITS": json.dumps({s: 0 for s in SOURCES}),
            **base_url_env(sim.base_urls),
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        asset = ingestion_asset(
            SPEC, daily_partitions(DAY.date()), RetryPolicy(max_retries=1, delay=0)
        )
        resources = {"ingestion": IngestionResource(config=CriptopipeSettings())}

        def run(at: datetime) -> Any:
            sim.set_now(at)
            monkeypatch.setenv("CRIPTOPIPE_NOW", at.isoformat())
            with DagsterInstance.ephemeral() as instance:
                return materialize(
                    [asset],
                    partition_key=DAY.date().isoformat(),
                    resources=resources,
                    instance=instance,
                    raise_on_error=False,
                )

        assert run(DAY + timedelta(hours=10, minutes=5)).success  # both series loaded
        # An hour later the first page (one series) comes back empty: a hole.
        sim.set_faults(FaultPlan.parse("binance:empty:first=1,endpoint=klines"))
        result = run(DAY + timedelta(hours=11, minutes=5))

    dsn = services.endpoints(retry_settings.postgres_db).role_dsn("loader", retry_settings)
    with psycopg.connect(dsn) as conn:
        attempts = conn.execute(
            "select run_id, status, error, inserted, updated, unchanged from"
            " raw.ingestion_runs where run_id like %s order by run_id",
            (f"{ingestion_run_id(result.run_id, SPEC)}%",),
        ).fetchall()
    assert result.success, attempts
    first, retry = attempts  # one row per attempt
    assert first[0] == ingestion_run_id(result.run_id, SPEC)
    assert first[1] == "partial" and "short page" in first[2]
    assert retry[0] == ingestion_run_id(result.run_id, SPEC, retry_number=1)
    assert retry[1] == "success", retry[2]
    assert retry[5] > 0  # it found the first attempt's rows there, unchanged
