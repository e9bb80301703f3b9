"""Landing contracts under stress, on the real servers: error bodies in the lake, records
jsonb cannot hold, and a PostgreSQL connection that goes away in the middle of a load."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp import web
from ingestion_support import SIM_NOW
from psycopg import sql
from pymongo import MongoClient

from ingestion.connectors.registry import get_endpoint
from ingestion.http import HttpClient
from ingestion.run.bookkeeping import RECORD_RUN_RETRY_DELAYS
from ingestion.run.ingest import run_ingestion
from ingestion.run.pipeline import FULL_PAGE, QUEUE_DEPTH, queue_depth
from ingestion.run.replay import replay_from_lake
from ingestion.run.results import ProgressEvent
from ingestion.settings import Settings
from ingestion.simulator import FaultPlan, RunningSimulator
from ingestion.sinks.lake import stored_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
Handler = Callable[[web.Request], Awaitable[web.Response]]


def query(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def lake_docs(mongo_uri: str, db: str, **where: Any) -> list[dict[str, Any]]:
    with MongoClient[dict[str, Any]](mongo_uri, tz_aware=True) as client:
        return list(client[db]["responses"].find(where))


# --------------------------------------------------------------------------- error bodies
async def test_json_error_bodies_are_kept_in_the_lake_with_their_status(
    sim: RunningSimulator,
    listed_settings: Settings,
    stand_in: Any,
    mongo_uri: str,
    mongo_db_name: str,
) -> None:
    invalid_symbol = (FIXTURES / "binance" / "error_400_invalid_symbol.json").read_bytes()

    async def bad_symbol(request: web.Request) -> web.Response:
        return web.Response(status=400, body=invalid_symbol, content_type="application/json")

    binance = await stand_in("/api/v3/klines", bad_symbol)
    settings = listed_settings.model_copy(
        update={"binance_base_url": binance, "assets": ("BTC",), "candle_intervals": ("1h",)}
    )
    sim.set_faults(FaultPlan.parse("coingecko:rate_limit:first=1,retry_after=1"))
    summary = await run_ingestion(
        settings, sources=["binance", "coingecko"], endpoints=["klines", "global"], now=SIM_NOW
    )
    by_name = {e.name: e for e in summary.endpoints}
    assert by_name["binance/klines"].status == "failed"
    assert "HTTP 400" in str(by_name["binance/klines"].error)
    assert by_name["coingecko/global"].status == "success"

    (rejected,) = lake_docs(mongo_uri, mongo_db_name, source="binance", endpoint="klines")
    assert rejected["status"] == 400 and rejected["record_count"] == 0
    assert stored_text(rejected).encode() == invalid_symbol  # byte for byte
    assert json.loads(stored_text(rejected))["code"] == -1121
    assert rejected["request"]["params"]["symbol"] == "BTCUSDT"
    statuses = sorted(
        (d["status"], d["record_count"])
        for d in lake_docs(mongo_uri, mongo_db_name, source="coingecko", endpoint="global")
    )
    assert statuses == [(200, 1), (429, 0)]
    limited = lake_docs(mongo_uri, mongo_db_name, source="coingecko", status=429)[0]
    assert json.loads(stored_text(limited))["status"]["error_code"] == 429
    assert limited["headers"]["retry-after"] == "1"
    assert by_name["binance/klines"].lake_documents == 1
    assert by_name["coingecko/global"].lake_documents == 2

    # The same error again is the same document: the unique index makes it a no-op.
    again = await run_ingestion(settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW)
    assert again.endpoints[0].lake_documents == 0
    assert len(lake_docs(mongo_uri, mongo_db_name, source="binance", endpoint="klines")) == 1


async def test_kraken_errors_inside_a_200_are_kept_too(
    sim: RunningSimulator,
    listed_settings: Settings,
    mongo_uri: str,
    mongo_db_name: str,
) -> None:
    sim.set_faults(FaultPlan.parse("kraken:rate_limit:first=1"))
    summary = await run_ingestion(
        listed_settings, sources=["kraken"], endpoints=["ticker"], now=SIM_NOW
    )
    assert summary.ok
    docs = lake_docs(mongo_uri, mongo_db_name, source="kraken", endpoint="ticker")
    errors = [d for d in docs if json.loads(stored_text(d)).get("error")]
    assert len(docs) == 2 and len(errors) == 1
    assert errors[0]["status"] == 200 and errors[0]["record_count"] == 0
    assert json.loads(stored_text(errors[0]))["error"] == ["EAPI:Rate limit exceeded"]


# --------------------------------------------------------------------------- jsonb limits
TICKERS_JSONB_CANNOT_HOLD = (
    '[{"pair":"BTC-BRL","last":"345000.0","date":1740830000,"note":"fine"},'
    '{"pair":"ETH-BRL","last":"19000.0","date":1740830000,"note":"nul \\u0000 inside"},'
    '{"pair":"SOL-BRL","last":"900.0","date":1740830000,"vol":NaN},'
    '{"pair":"XRP-BRL","last":"14.0","date":1740830000,"note":"escaped \\\\u0000 is text"}]'
)


async def test_records_jsonb_cannot_hold_are_quarantined_and_the_rest_loads(
    listed_settings: Settings,
    stand_in: Any,
    loader_dsn: str,
) -> None:
    async def tickers(request: web.Request) -> web.Response:
        return web.Response(text=TICKERS_JSONB_CANNOT_HOLD, content_type="application/json")

    root = await stand_in("/api/v4/tickers", tickers)
    settings = listed_settings.model_copy(update={"mercadobitcoin_base_url": root + "/api/v4"})
    summary = await run_ingestion(
        settings, sources=["mercadobitcoin"], endpoints=["tickers"], now=SIM_NOW
    )
    (stats,) = summary.endpoints
    assert (stats.fetched, stats.inserted, stats.quarantined) == (4, 2, 2)
    assert stats.status == "success"
    loaded = query(
        loader_dsn, "select pair, record ->> 'note' from raw.mercadobitcoin__tickers order by pair"
    )
    assert loaded == [("BTC-BRL", "fine"), ("XRP-BRL", "escaped \\u0000 is text")]
    quarantined = query(
        loader_dsn,
        "select reason, record ->> 'pair', raw_text from raw.quarantine order by quarantine_id",
    )
    assert len(quarantined) == 2
    nul, nan = quarantined
    assert "NUL character" in nul[0] and nul[1] == "ETH-BRL"
    assert "NaN" in nan[0] and "SOL-BRL" in nan[2]


# --------------------------------------------------------------------------- lost database
async def test_a_connection_killed_mid_load_names_the_endpoint_keeps_what_was_committed(
    sim: RunningSimulator,
    listed_settings: Settings,
    loader_dsn: str,
    admin_dsn: str,
) -> None:
    settings = listed_settings.model_copy(
        update={
            "assets": ("BTC", "ETH", "BNB"),
            "candle_intervals": ("1h",),
            "http_max_retries": 0,
            "start_date": (SIM_NOW - timedelta(days=200)).date(),
        }
    )
    # One slow request at a time: the loader commits page after page while the kill lands.
    sim.set_faults(FaultPlan.parse("binance:latency:p=1,delay=0.15"))
    committed_at_kill = 0

    async def kill_the_loader_once_rows_are_in() -> None:
        nonlocal committed_at_kill
        async with await psycopg.AsyncConnection.connect(admin_dsn, autocommit=True) as admin:
            while True:
                cur = await admin.execute("select count(*) from raw.binance__klines")
                row = await cur.fetchone()
                if row and row[0] > 0:
                    committed_at_kill = int(row[0])
                    cur = await admin.execute(
                        "select pg_terminate_backend(pid) from pg_stat_activity "
                        "where application_name = 'criptopipe binance/klines'"
                    )
                    assert [r[0] for r in await cur.fetchall()] == [True]
                    return
                await asyncio.sleep(0.02)

    async with HttpClient(settings, concurrency_per_host=1) as http:
        killer = asyncio.create_task(kill_the_loader_once_rows_are_in())
        summary = await run_ingestion(
            settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW, http=http
        )
        await killer
    (stats,) = summary.endpoints
    assert stats.status == "failed"
    assert "binance/klines: lost the PostgreSQL connection" in str(stats.error)
    assert "raw.binance__klines" in str(stats.error)
    after_kill = query(loader_dsn, "select count(*) from raw.binance__klines")[0][0]
    assert 0 < committed_at_kill <= after_kill < 3 * (200 * 24 + 13)
    # The failed run is still on record (over a fresh connection).
    runs = query(
        loader_dsn,
        "select status, error from raw.ingestion_runs where run_id = %s",
        [summary.run_id],
    )
    assert runs[0][0] == "failed" and "lost the PostgreSQL connection" in runs[0][1]

    sim.set_faults(FaultPlan())
    rerun = await run_ingestion(settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW)
    assert rerun.ok, rerun.endpoints[0].error
    total, distinct, per_symbol = query(
        loader_dsn,
        "select count(*), count(distinct (symbol, interval, open_time)), "
        "count(*) filter (where symbol = 'BTCUSDT') from raw.binance__klines",
    )[0]
    assert total == distinct == 3 * per_symbol  # no duplicates, every series complete
    truth = sim.state.ground_truth("binance", "/api/v3/klines")
    hours = {k for k in truth if k[0] == "BTCUSDT" and k[1] == "1h"}
    assert per_symbol == len(hours)
    hours_loaded = query(
        loader_dsn,
        "select max(open_time) - min(open_time), count(*) "
        "from raw.binance__klines where symbol = 'ETHUSDT'",
    )[0]
    assert hours_loaded[0] == timedelta(hours=hours_loaded[1] - 1)  # no gap


class DatabaseOutage:
    """What a PostgreSQL restart does to a run, on the shared server (which cannot restart):
    once the endpoint's rows are committed, its loader connection is terminated and the
    database refuses the loader's new connections for ``seconds`` (forever if None)."""

    def __init__(self, admin_dsn: str, endpoint: str, seconds: float | None) -> None:
        self.admin_dsn = admin_dsn
        self.endpoint = endpoint
        self.seconds = seconds
        self.terminated = False
        self.reopened = threading.Event()

    def _set_limit(self, limit: int) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            database = conn.info.dbname
            conn.execute(
                sql.SQL("alter database {} connection limit {}").format(
                    sql.Identifier(database), sql.Literal(limit)
                )
            )

    def reopen(self) -> None:
        self._set_limit(-1)
        self.reopened.set()

    def __call__(self, event: ProgressEvent) -> None:
        """A progress callback: the endpoint's last event comes after its final commit."""
        source, endpoint = self.endpoint.split("/")
        if (
            self.terminated
            or (event.source, event.endpoint) != (source, endpoint)
            or event.requests_done < event.requests_total
        ):
            return
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            row = conn.execute(
                sql.SQL("select count(*) from {}").format(
                    sql.Identifier("raw", f"{source}__{endpoint}")
                )
            ).fetchone()
            if not row or row[0] == 0:
                return  # the last page is in, but not yet committed
            self._set_limit(0)
            killed = conn.execute(
                "select pg_terminate_backend(pid, 5000) from pg_stat_activity "
                "where application_name = %s",
                [f"criptopipe {self.endpoint}"],
            ).fetchall()
        assert killed == [(True,)]
        self.terminated = True
        if self.seconds is not None:
            threading.Timer(self.seconds, self.reopen).start()


async def test_a_run_whose_connection_died_after_its_load_is_still_recorded(
    sim_settings: Settings,
    loader_dsn: str,
    admin_dsn: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The endpoint loads everything, then PostgreSQL "restarts": its connection is dead
    # (psycopg does not know yet) and new connections are refused for a moment.
    outage = DatabaseOutage(admin_dsn, "fear_greed/fng", seconds=1.5)
    try:
        summary = await run_ingestion(
            sim_settings, sources=["fear_greed"], now=SIM_NOW, progress=outage
        )
    finally:
        outage.reopen()
    assert outage.terminated
    (stats,) = summary.endpoints
    assert stats.status == "success" and stats.inserted > 0
    runs = query(
        loader_dsn,
        "select status, fetched, inserted from raw.ingestion_runs where run_id = %s",
        [summary.run_id],
    )
    assert runs == [("success", stats.fetched, stats.inserted)]
    assert "lost the loader connection before recording run" in caplog.text
    assert "could not record run" not in caplog.text


async def test_a_run_that_cannot_be_recorded_says_so_with_its_numbers(
    sim_settings: Settings,
    loader_dsn: str,
    admin_dsn: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("ingestion.run.bookkeeping.RECORD_RUN_RETRY_DELAYS", (0.05, 0.05))
    assert sum(RECORD_RUN_RETRY_DELAYS) > 30  # a real restart is waited out
    outage = DatabaseOutage(admin_dsn, "fear_greed/fng", seconds=None)
    try:
        summary = await run_ingestion(
            sim_settings, sources=["fear_greed"], now=SIM_NOW, progress=outage
        )
    finally:
        outage.reopen()
    (stats,) = summary.endpoints
    assert stats.status == "success" and stats.inserted > 0  # the data itself is in
    assert query(
        loader_dsn, "select count(*) from raw.ingestion_runs where run_id = %s", [summary.run_id]
    ) == [(0,)]
    (error,) = [r for r in caplog.records if "could not record run" in r.getMessage()]
    assert error.levelname == "ERROR"
    assert summary.run_id in error.getMessage()
    assert f'"inserted": {stats.inserted}' in error.getMessage()
    assert "too many connections" in error.getMessage()


async def test_replay_skips_the_error_responses_the_lake_keeps(
    sim: RunningSimulator,
    listed_settings: Settings,
    loader_dsn: str,
    mongo_uri: str,
    mongo_db_name: str,
) -> None:
    sim.set_faults(
        FaultPlan.parse("coingecko:rate_limit:first=1,retry_after=1 ; kraken:rate_limit:first=1")
    )
    await run_ingestion(
        listed_settings,
        sources=["coingecko", "kraken"],
        endpoints=["global", "ticker"],
        now=SIM_NOW,
    )
    asked = {"endpoint": {"$in": ["global", "ticker"]}}
    assert len(lake_docs(mongo_uri, mongo_db_name, **asked)) == 4  # two errors, two answers
    with psycopg.connect(loader_dsn, autocommit=True) as conn:
        conn.execute("truncate raw.coingecko__global, raw.kraken__ticker")
    summary = await replay_from_lake(listed_settings)
    assert summary.ok
    replayed = {e.name: (e.fetched, e.quarantined) for e in summary.endpoints}
    assert {n: replayed[n] for n in ("coingecko/global", "kraken/ticker")} == {
        "coingecko/global": (1, 0),
        "kraken/ticker": (2, 0),
    }  # BNB is not on Kraken
    assert query(loader_dsn, "select count(*) from raw.quarantine") == [(0,)]


async def test_an_endpoint_that_stops_early_leaves_no_fetch_running(
    sim: RunningSimulator,
    sim_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The writer stops on the first page while the producer waits on a full queue: the
    # fetch it had already started must not keep requesting after the endpoint failed.
    monkeypatch.setattr("ingestion.run.pipeline.QUEUE_DEPTH", 1)
    sim.set_faults(FaultPlan.parse("binance:latency:skip=1,first=100,delay=0.8"))

    def stop_at_first_page(event: ProgressEvent) -> None:
        if event.requests_done:
            raise RuntimeError("stop")

    start = SIM_NOW - timedelta(days=60)
    summary = await run_ingestion(
        sim_settings,
        sources=["binance"],
        endpoints=["klines"],
        start=start,
        end=SIM_NOW,
        now=SIM_NOW,
        progress=stop_at_first_page,
    )
    assert summary.endpoints[0].status == "failed"
    running = [
        t
        for t in asyncio.all_tasks()
        if not t.done() and getattr(t.get_coro(), "__qualname__", "").endswith(".fetch")
    ]
    assert running == []


def test_an_endpoint_of_small_pages_queues_as_many_records_ahead() -> None:
    # Coinbase serves 300 candles a page: with 16 pages ahead its writer emptied the queue
    # with every batch and committed 2.5 times as often as Binance's (1,000 a page).
    binance, coinbase = get_endpoint("binance", "klines"), get_endpoint("coinbase", "candles")
    assert queue_depth(binance) == QUEUE_DEPTH
    assert coinbase.page_cap is not None
    assert queue_depth(coinbase) * coinbase.page_cap >= 0.9 * QUEUE_DEPTH * FULL_PAGE
    listing = get_endpoint("binance", "exchange_info")  # no page cap: one request
    assert queue_depth(listing) == QUEUE_DEPTH
