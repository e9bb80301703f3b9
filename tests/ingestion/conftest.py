"""Fixtures of the ingestion tests: a simulator per test, settings pointing at it, and a
clean ``raw`` schema and lake before each test (real PostgreSQL and MongoDB-protocol server).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest
from ingestion_support import SIM_NOW, settings_for
from pymongo import MongoClient

from ingestion.settings import Settings
from ingestion.simulator import RunningSimulator, SimulatorConfig, run_simulator


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
