"""Fixtures of the ingestion tests: a simulator per test, settings pointing at it, and a
clean ``raw`` schema and lake before each test (real PostgreSQL and MongoDB-protocol server).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import psycopg
import pytest
from aiohttp import web
from ingestion_support import SIM_NOW, admin, load_listings, settings_for
from netutil import free_port
from pymongo import MongoClient

from ingestion.settings import PROJECT_ROOT, Settings
from ingestion.simulator import RunningSimulator, SimulatorConfig, run_simulator


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(SimulatorConfig(seed=7, now=SIM_NOW)) as running:
        yield running


@pytest.fixture
def clean_stores(loader_dsn: str, mongo_uri: str, mongo_db_name: str) -> None:
    """Empty every raw table and the lake, so each test starts from nothing."""
    with psycopg.connect(loader_dsn, autocommit=True) as conn:
        tables = conn.execute("select tablename from pg_tables where schemaname = 'raw'").fetchall()
        for (name,) in tables:
            conn.execute(psycopg.sql.SQL("truncate {}").format(psycopg.sql.Identifier("raw", name)))
    with MongoClient[dict[str, Any]](mongo_uri) as client:
        for name in client[mongo_db_name].list_collection_names():
            client[mongo_db_name][name].delete_many({})


@pytest.fixture
def sim_settings(
    settings: Settings, sim: RunningSimulator, clean_stores: None, mongo_db_name: str
) -> Settings:
    return settings_for(settings, sim.base_urls)


@pytest.fixture
async def listed_settings(sim_settings: Settings, sim: RunningSimulator) -> Settings:
    """``sim_settings`` on a warehouse that already holds the listings (and the ranks).

    The run under test is then not the one that bootstraps the listings: it requests only
    its own endpoints, so request logs and fault plans count its requests alone.
    """
    await load_listings(sim_settings)
    sim.state.requests.clear()
    return sim_settings


@pytest.fixture
def simulator_process() -> Iterator[str]:
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "ingestion.simulator", "--port", str(port), "--seed", "11"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                admin(root, "/_admin/health")
                break
            except OSError:
                time.sleep(0.1)
        admin(root, "/_admin/clock", {"now": SIM_NOW.isoformat()})
        yield root
    finally:
        process.kill()
        process.wait()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def stand_in() -> AsyncIterator[Callable[[str, Handler], Awaitable[str]]]:
    """Serve one handler on a path of a fresh local server; returns the server's root URL."""
    runners: list[web.AppRunner] = []

    async def serve(path: str, handler: Handler) -> str:
        app = web.Application()
        app.router.add_get(path, handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    yield serve
    for runner in runners:
        await runner.cleanup()
