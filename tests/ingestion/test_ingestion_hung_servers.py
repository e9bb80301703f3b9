"""A hung server — SIGSTOP of a FerretDB, or of every process of a PostgreSQL, that the
test starts itself, never anyone else's — ends the run within its deadline, failed, naming
the server; after SIGCONT a rerun completes. Raw rows are never left waiting on the lake
without a deadline, and no batch waits on a stopped PostgreSQL without one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from ingestion_support import SIM_NOW
from netutil import free_port
from pydantic import SecretStr
from pymongo import MongoClient

from ingestion.errors import ServiceError
from ingestion.http import HttpClient
from ingestion.run.ingest import run_ingestion
from ingestion.run.results import EndpointStats, RunSummary
from ingestion.services import Services, postgres
from ingestion.services.mongo import LocalMongo
from ingestion.settings import Settings
from ingestion.simulator import FaultPlan, RunningSimulator
from ingestion.sinks.raw.schema import ensure_schema


@pytest.fixture
def own_ferretdb(settings: Settings) -> Iterator[LocalMongo]:
    """A FerretDB (or mongod) of this test alone, on a free port, in its own directory."""
    home = Path(tempfile.mkdtemp(prefix="criptopipe-hung-"))
    server = LocalMongo(home, free_port(), settings.ferretdb_cache_dir)
    server.start()
    try:
        yield server
    finally:
        pid = server.pid()
        if pid is not None:
            os.kill(pid, signal.SIGCONT)
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


async def test_a_hung_lake_server_fails_the_run_within_its_deadline_then_a_rerun_completes(
    sim: RunningSimulator,
    listed_settings: Settings,
    own_ferretdb: LocalMongo,
    loader_dsn: str,
) -> None:
    settings = listed_settings.model_copy(
        update={
            "mongo_uri": SecretStr(own_ferretdb.uri),
            "mongo_db": "hung",
            "mongo_socket_timeout_seconds": 2.0,
            "mongo_server_selection_timeout_seconds": 2.0,
            "lake_ack_timeout_seconds": 3.0,
            "assets": ("BTC", "ETH"),
            "candle_intervals": ("1h",),
            "start_date": (SIM_NOW - timedelta(days=120)).date(),
        }
    )
    pid = own_ferretdb.pid()
    assert pid is not None
    summary, elapsed = await hang_during_load(sim, settings, loader_dsn, lambda: [pid])
    stats = klines_stats(summary)
    assert stats.status == "failed"
    assert "MongoDB (the lake)" in str(stats.error), stats.error
    assert elapsed < 60, elapsed
    with psycopg.connect(loader_dsn) as conn:
        ((status,),) = conn.execute(
            "select status from raw.ingestion_runs where run_id = %s", [summary.run_id]
        ).fetchall()
        assert status == "failed"
        # No loader session is left holding raw rows in an open transaction (in this
        # test's database: other tests' runs on the same server may be mid-transaction).
        idle = conn.execute(
            "select count(*) from pg_stat_activity where state like 'idle in "
            "transaction%%' and application_name like 'criptopipe %%'"
            " and datname = current_database()"
        ).fetchone()
    assert idle == (0,)
    await assert_a_rerun_completes(sim, settings, loader_dsn)


@pytest.fixture
def own_services(base_settings: Settings) -> Iterator[Services]:
    """A PostgreSQL + MongoDB-protocol pair of this test alone (it stops its PostgreSQL)."""
    home = Path(tempfile.mkdtemp(prefix="criptopipe-hung-pg-"))
    settings = base_settings.model_copy(
        update={
            "home": home / "state",
            "postgres_port": free_port(),
            "mongo_port": free_port(),
            "postgres_dsn": None,
            "mongo_uri": None,
            "postgres_db": "hung_pg",
        }
    )
    services = Services(settings)
    try:
        services.up()
        postgres.bootstrap(services.postgres_admin_dsn(), "hung_pg", settings)
        yield services
    finally:
        for pid in _cluster_pids(services):
            os.kill(pid, signal.SIGCONT)
        services.down()
        shutil.rmtree(home, ignore_errors=True)


def _cluster_pids(services: Services) -> list[int]:
    """The postmaster of ``services`` and its children (every backend of that server)."""
    postmaster = services.status()[0].pid
    if postmaster is None:
        return []
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == postmaster:
            pids.append(int(stat.parent.name))
    return pids


@pytest.mark.slow  # ~35 s: starts its own PostgreSQL and FerretDB (CI runs -m "not live")
async def test_a_hung_postgresql_fails_the_run_within_its_deadline_then_a_rerun_completes(
    sim: RunningSimulator,
    sim_settings: Settings,
    own_services: Services,
) -> None:
    settings = own_settings(
        sim_settings,
        own_services,
        mongo_db="hung",
        postgres_statement_timeout_seconds=2.0,
        lake_ack_timeout_seconds=2.0,
    )
    loader_dsn = own_services.endpoints("hung_pg").role_dsn("loader", settings)
    summary, elapsed = await hang_during_load(
        sim, settings, loader_dsn, lambda: _cluster_pids(own_services)
    )
    stats = klines_stats(summary)
    assert stats.status == "failed"
    assert "PostgreSQL did not answer" in str(stats.error), stats.error
    assert elapsed < 60, elapsed  # the batch deadline (6 s) and one bookkeeping try (9 s)
    await assert_a_rerun_completes(sim, settings, loader_dsn)


async def hang_during_load(
    sim: RunningSimulator,
    settings: Settings,
    loader_dsn: str,
    pids: Callable[[], list[int]],
) -> tuple[RunSummary, float]:
    """Run a Binance backfill and SIGSTOP ``pids()`` once its first rows are committed;
    SIGCONT them when the run is over. The summary, and the run's seconds."""
    stopped: list[int] = []

    def stop() -> None:
        for pid in pids():
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)

    try:
        summary, elapsed = await interrupt_load(sim, settings, loader_dsn, stop)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    assert stopped, "the server was never stopped"
    return summary, elapsed


async def interrupt_load(
    sim: RunningSimulator,
    settings: Settings,
    loader_dsn: str,
    interrupt: Callable[[], None],
) -> tuple[RunSummary, float]:
    """Run a Binance backfill (one slow request at a time) and call ``interrupt`` (in a
    thread) once its first rows are committed. The summary, and the run's seconds."""
    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await ensure_schema(conn)  # the table the watcher watches
    # A load that lasts: each request 0.5 s late, so seconds remain after the first commit
    # for ``interrupt`` to land (at 0.1 s, the loader of #18 sometimes finished the run
    # before a kill landed, and the run came out a success).
    sim.set_faults(FaultPlan.parse("binance:latency:p=1,delay=0.5"))

    async def once_rows_are_in() -> None:
        async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
            while True:
                cur = await conn.execute("select count(*) from raw.binance__klines")
                row = await cur.fetchone()
                if row and row[0]:
                    break
                await asyncio.sleep(0.05)
        await asyncio.to_thread(interrupt)

    watcher = asyncio.create_task(once_rows_are_in())
    started = time.monotonic()
    async with HttpClient(settings, concurrency_per_host=1) as http:
        summary = await run_ingestion(
            settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW, http=http
        )
    elapsed = time.monotonic() - started
    await watcher
    return summary, elapsed


def klines_stats(summary: RunSummary) -> EndpointStats:
    """The run's Binance klines endpoint: a fresh warehouse's run also loads the listings
    (issue #17) before it, so the summary holds those endpoints too."""
    (stats,) = [s for s in summary.endpoints if (s.source, s.endpoint) == ("binance", "klines")]
    return stats


def own_settings(sim_settings: Settings, services: Services, **extra: Any) -> Settings:
    """Settings of a run against ``services`` (the test's own servers) and the simulator."""
    own = services.settings
    return sim_settings.model_copy(
        update={
            "home": own.home,
            "postgres_port": own.postgres_port,
            "mongo_port": own.mongo_port,
            "postgres_dsn": None,
            "mongo_uri": None,
            "postgres_db": "hung_pg",
            "postgres_connect_timeout_seconds": 2.0,
            "assets": ("BTC", "ETH"),
            "candle_intervals": ("1h",),
            "start_date": (SIM_NOW - timedelta(days=120)).date(),
            **extra,
        }
    )


async def assert_a_rerun_completes(
    sim: RunningSimulator, settings: Settings, loader_dsn: str
) -> None:
    sim.set_faults(FaultPlan())
    rerun = await run_ingestion(settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW)
    assert rerun.ok, [stats.error for stats in rerun.endpoints if stats.error]
    with psycopg.connect(loader_dsn) as conn:
        ((loaded,),) = conn.execute("select count(*) from raw.binance__klines").fetchall()
    assert loaded == 2 * (120 * 24 + 13)  # every hour of 120 days and today's, once


# --------------------------------------------------------------------------- crashes
def _kill_server(services: Services, server: str) -> list[int]:
    """SIGKILL every process of ``server`` ("postgresql": the postmaster and its backends)."""
    if server == "postgresql":
        pids = _cluster_pids(services)
    else:
        pid = services.status()[1].pid
        pids = [pid] if pid is not None else []
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids


def _restart(services: Services, server: str) -> None:
    """Start the killed server again once its processes are gone (a crash restart)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        leftover = _cluster_pids(services) if server == "postgresql" else []
        for pid in leftover:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            services.up()
            return
        except ServiceError:
            time.sleep(0.5)
    services.up()


@pytest.mark.slow  # ~40 s each: its own servers, a crash, a restart and a rerun
@pytest.mark.parametrize("server", ["postgresql", "ferretdb"])
async def test_a_server_killed_mid_batch_then_restarted_and_rerun_loses_and_doubles_nothing(
    sim: RunningSimulator,
    sim_settings: Settings,
    own_services: Services,
    server: str,
) -> None:
    settings = own_settings(
        sim_settings,
        own_services,
        mongo_db="crash",
        mongo_server_selection_timeout_seconds=2.0,
        mongo_socket_timeout_seconds=5.0,
        lake_ack_timeout_seconds=5.0,
    )
    loader_dsn = own_services.endpoints("hung_pg").role_dsn("loader", settings)
    killed: list[int] = []

    def crash_and_restart() -> None:
        killed.extend(_kill_server(own_services, server))
        _restart(own_services, server)  # while the run winds down

    summary, _ = await interrupt_load(sim, settings, loader_dsn, crash_and_restart)
    assert killed
    assert klines_stats(summary).status == "failed"

    await assert_a_rerun_completes(sim, settings, loader_dsn)
    with psycopg.connect(loader_dsn) as conn:
        rows = conn.execute(
            "select symbol, interval, open_time, record, lake_document_id from raw.binance__klines"
        ).fetchall()
    with MongoClient[dict[str, Any]](own_services.mongo_uri()) as client:
        stored = {d["_id"] for d in client["crash"]["responses"].find({}, {"_id": 1})}
    assert {row[4] for row in rows} <= stored  # every committed row's document exists
    truth = sim.state.ground_truth("binance", "/api/v3/klines")
    loaded = {(s, i, int(t.timestamp() * 1000)): record for s, i, t, record, _ in rows}
    assert len(loaded) == len(rows)  # nothing doubled
    assert loaded == {tuple(k): v for k, v in truth.items()}  # nothing lost, all newest
