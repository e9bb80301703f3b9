"""Orchestration fixtures: a warehouse and lake of the module's own, and the simulator.

Dagster's resources read the databases and base URLs from the environment at run time
(through ``Settings``), so these fixtures set ``CRIPTOPIPE_*`` variables for the session's
orchestration tests. The databases are separate from the shared test database, so data
other tests load never shows up as candle gaps here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from warehouses import fresh_warehouse

from ingestion.services import Services
from ingestion.settings import SOURCES, Settings
from orchestration.simulator import background_simulator, base_url_env


@pytest.fixture(scope="session")
def orch_settings(
    services: Services, base_settings: Settings, test_db_name: str
) -> Iterator[Settings]:
    with fresh_warehouse(services, base_settings, f"{test_db_name}_orch") as settings:
        yield settings


@pytest.fixture(scope="session")
def simulator() -> Iterator[Any]:
    from ingestion.simulator import SimulatorConfig

    # The simulator follows the real clock, as the ingestion planner does (Kraken, for one,
    # serves only its last 720 candles counted back from "now").
    with background_simulator(SimulatorConfig()) as sim:
        yield sim


@pytest.fixture(scope="session")
def orch_env(orch_settings: Settings, simulator: Any) -> Iterator[dict[str, str]]:
    """The environment a Dagster run of these tests sees."""
    env = {
        "CRIPTOPIPE_POSTGRES_DB": orch_settings.postgres_db,
        "CRIPTOPIPE_MONGO_DB": orch_settings.mongo_db,
        "CRIPTOPIPE_HTTP_RATE_LIMITS": json.dumps({s: 0 for s in SOURCES}),
        **base_url_env(simulator.base_urls),
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        yield env
