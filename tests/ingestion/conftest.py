"""Fixtures of the ingestion tests: a simulator per test, settings pointing at it, and a
clean ``raw`` schema and lake before each test (real PostgreSQL and MongoDB-protocol server).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from pymongo import MongoClient

from ingestion.settings import SOURCES, Settings
from ingestion.simulator import RunningSimulator, SimulatorConfig, run_simulator

# The simulated clock: mid-hour, so every 1h series ends with an open candle.
SIM_NOW = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


def settings_for(base: Settings, base_urls: dict[str, str], **overrides: Any) -> Settings:
    """Settings for a run against ``base_urls``: no rate limits, quick retries, small scope."""
    update: dict[str, Any] = {f"{s}_base_url": base_urls[s] for s in SOURCES}
    update.update(
        http_rate_limits={s: 0 for s in SOURCES},
        http_timeout_seconds=1.0,
        http_max_retries=3,
        http_backoff_base_seconds=0.01,
        http_backoff_max_seconds=0.05,
        assets=("BTC", "ETH", "BNB"),
        start_date=(SIM_NOW - timedelta(days=3)).date(),
        markets_top_n=5,
    )
    update.update(overrides)
    return base.model_copy(update=update)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(SimulatorConfig(seed=7, now=SIM_NOW)) as running:
        yield running


@pytest.fixture
def clean_stores(loader_dsn: str, mongo_uri: str, mongo_db_name: str) -> None:
    """Empty every raw table and the lake, so each test starts from nothing."""
    with psycopg.connect(loader_dsn, autocommit=True) as conn:
        tables = conn.execute(
            "select tablename from pg_tables where schemaname = 'raw'"
        ).fetchall()
        for (name,) in tables:
            conn.execute(
                psycopg.sql.SQL("truncate {}").format(psycopg.sql.Identifier("raw", name))
            )
    with MongoClient(mongo_uri) as client:
        for name in client[mongo_db_name].list_collection_names():
            client[mongo_db_name][name].delete_many({})


@pytest.fixture
def sim_settings(
    settings: Settings, sim: RunningSimulator, clean_stores: None, mongo_db_name: str
) -> Settings:
    return settings_for(settings, sim.base_urls)
