"""End to end: simulator → HTTP client → lake (MongoDB) + raw (PostgreSQL), real servers."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from aiohttp import web
from ingestion_support import SIM_NOW, settings_for
from pydantic import SecretStr
from pymongo import MongoClient

from ingestion.connectors.registry import EXCHANGES, REGISTRY
from ingestion.http import HttpClient
from ingestion.raw_tables import get_table
from ingestion.run.ingest import run_ingestion
from ingestion.run.replay import replay_from_lake
from ingestion.settings import Settings
from ingestion.simulator import FaultPlan, RunningSimulator
from ingestion.sinks.lake import COMPRESS_MIN_BYTES, stored_body, stored_text


def query(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def count(dsn: str, table: str) -> int:
    return int(query(dsn, f"select count(*) from raw.{table}")[0][0])


def lake_docs(mongo_uri: str, db: str, collection: str = "responses") -> list[dict[str, Any]]:
    with MongoClient[dict[str, Any]](mongo_uri, tz_aware=True) as client:
        return list(client[db][collection].find())


async def test_a_full_run_lands_every_endpoint_and_accounts_for_every_record(
    sim_settings: Settings,
    loader_dsn: str,
    transformer_dsn: str,
    mongo_uri: str,
    mongo_db_name: str,
) -> None:
    summary = await run_ingestion(sim_settings, now=SIM_NOW)
    assert summary.ok, [(e.name, e.error) for e in summary.failed]
    assert len(summary.endpoints) == len(REGISTRY)
    for stats in summary.endpoints:
        assert stats.fetched > 0, stats.name
        assert stats.fetched == (
            stats.inserted + stats.updated + stats.unchanged + stats.quarantined
        )
    runs = query(
        loader_dsn,
        "select source, endpoint, status, fetched, inserted, updated, "
        "unchanged, quarantined, requests from raw.ingestion_runs "
        "where run_id = %s",
        [summary.run_id],
    )
    assert len(runs) == len(REGISTRY)
    assert all(r[3] == r[4] + r[5] + r[6] + r[7] and r[2] == "success" for r in runs)
    klines_stats = next(e for e in summary.endpoints if e.name == "binance/klines")
    assert count(loader_dsn, "binance__klines") == klines_stats.inserted
    # Skipped assets are named: BNB is not on Coinbase.
    coinbase = next(e for e in summary.endpoints if e.name == "coinbase/candles")
    assert "not listed on coinbase, skipped: BNB" in coinbase.notes
    # dbt's role can read what the loader created.
    assert query(transformer_dsn, "select count(*) from raw.kraken__ohlc")[0][0] > 0
    # Every lake document holds the body byte for byte, with its hash and record count.
    docs = lake_docs(mongo_uri, mongo_db_name)
    assert len(docs) == summary.total("lake_documents")
    for doc in docs:
        assert hashlib.sha256(stored_body(doc)).hexdigest() == doc["body_sha256"]
        json.loads(stored_text(doc))
        assert doc["run_id"] == summary.run_id and doc["fetched_at"].tzinfo is not None
    klines = next(d for d in docs if d["endpoint"] == "klines")
    assert klines["request"]["path"] == "/api/v3/klines"
    assert klines["record_count"] == len(json.loads(stored_text(klines)))
    assert klines["records_from"] <= klines["records_to"]
    # Candle pages are stored compressed (zstd), in ~0.3 of their size (zlib
    # level 1 left 0.38: with FerretDB's base64 over half the bodies on disk); small ones
    # as text.
    candle_pages = [d for d in docs if d["body_bytes"] >= COMPRESS_MIN_BYTES]
    assert candle_pages and all("body" not in d for d in candle_pages)
    compressed = sum(len(d["body_zstd"]) for d in candle_pages)
    assert compressed <= 0.36 * sum(d["body_bytes"] for d in candle_pages)
    assert all(isinstance(d["body"], str) for d in docs if d["body_bytes"] < COMPRESS_MIN_BYTES)


async def test_rerunning_a_window_adds_no_rows_and_no_lake_documents(
    listed_settings: Settings,
    loader_dsn: str,
) -> None:
    start, end = SIM_NOW - timedelta(days=3), SIM_NOW - timedelta(days=1)  # closed candles
    first = await run_ingestion(
        listed_settings,
        sources=["binance", "coinbase", "kraken"],
        endpoints=["klines", "candles", "ohlc"],
        start=start,
        end=end,
        now=SIM_NOW,
    )
    tables = ("binance__klines", "coinbase__candles", "kraken__ohlc")
    before = {t: count(loader_dsn, t) for t in tables}
    # A minute later by the run's clock (last_seen_at is the fetch time by that clock).
    second = await run_ingestion(
        listed_settings,
        sources=["binance", "coinbase", "kraken"],
        endpoints=["klines", "candles", "ohlc"],
        start=start,
        end=end,
        now=SIM_NOW + timedelta(minutes=1),
    )
    assert {t: count(loader_dsn, t) for t in tables} == before
    assert first.total("inserted") == sum(before.values())
    for stats in second.endpoints:
        assert (stats.inserted, stats.updated, stats.lake_documents) == (0, 0, 0), stats.name
        assert stats.unchanged == stats.fetched > 0
    # Unchanged rows were still seen again.
    seen = query(
        loader_dsn,
        "select count(*) from raw.binance__klines where run_id = %s "
        "and last_seen_at > first_seen_at",
        [first.run_id],
    )
    assert seen[0][0] == before["binance__klines"]


async def test_an_open_candle_is_updated_when_it_closes(
    sim: RunningSimulator,
    sim_settings: Settings,
    loader_dsn: str,
) -> None:
    open_time = SIM_NOW.replace(minute=0)
    sql = (
        "select record from raw.binance__klines where symbol = 'BTCUSDT' "
        "and interval = '1h' and open_time = %s"
    )
    await run_ingestion(sim_settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW)
    ((open_record,),) = query(loader_dsn, sql, [open_time])
    sim.set_now(SIM_NOW + timedelta(hours=1))
    summary = await run_ingestion(
        sim_settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW + timedelta(hours=1)
    )
    ((closed_record,),) = query(loader_dsn, sql, [open_time])
    assert closed_record != open_record
    stats = summary.endpoints[0]
    assert stats.updated >= 1 and stats.inserted >= 1  # the closed one, and the new open one
    truth = sim.state.ground_truth("binance", "/api/v3/klines")
    assert closed_record == truth[("BTCUSDT", "1h", int(open_time.timestamp() * 1000))]
    # The incremental run asked only from the newest loaded candle on.
    assert stats.fetched <= 6 * 2


async def test_a_non_json_body_is_quarantined_and_the_run_goes_on(
    sim: RunningSimulator,
    listed_settings: Settings,
    loader_dsn: str,
    mongo_uri: str,
    mongo_db_name: str,
) -> None:
    sim.set_faults(FaultPlan.parse("coinbase:truncated:first=1 ; kraken:html:first=1"))
    summary = await run_ingestion(
        listed_settings, sources=["coinbase", "kraken"], endpoints=["candles", "ohlc"], now=SIM_NOW
    )
    assert summary.ok  # retried after keeping the bad bodies
    quarantined = lake_docs(mongo_uri, mongo_db_name, "quarantine")
    reasons = sorted((d["source"], d["status"]) for d in quarantined)
    assert reasons == [("coinbase", 200), ("kraken", 520)]
    html = next(d for d in quarantined if d["source"] == "kraken")
    assert html["raw_text"].startswith("<!DOCTYPE html>") and "not JSON" in html["reason"]
    rows = query(
        loader_dsn,
        "select source, reason, record is null, raw_text is not null "
        "from raw.quarantine order by source",
    )
    assert [(r[0], r[2], r[3]) for r in rows] == [("coinbase", True, True), ("kraken", True, True)]
    for stats in summary.endpoints:
        assert stats.quarantined == 1 and stats.retries == 1
        assert stats.fetched == stats.inserted + stats.updated + stats.unchanged + 1


@pytest.fixture
async def bad_mercadobitcoin(sim: RunningSimulator) -> AsyncIterator[str]:
    """A Mercado Bitcoin stand-in whose tickers hold a good, a keyless and a bad record."""
    body = [
        {"pair": "BTC-BRL", "last": "345000.0", "date": 1740830000},
        {"last": "1.0", "date": 1740830000},
        {"pair": "ETH-BRL", "last": "not-a-price", "date": 1740830000},
        {"pair": "SOL-BRL", "last": "900.0", "date": 99999999999},
    ]

    async def tickers(request: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/api/v4/tickers", tickers)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/api/v4"
    await runner.cleanup()


async def test_invalid_records_land_in_raw_quarantine(
    listed_settings: Settings,
    bad_mercadobitcoin: str,
    loader_dsn: str,
) -> None:
    settings = listed_settings.model_copy(update={"mercadobitcoin_base_url": bad_mercadobitcoin})
    summary = await run_ingestion(
        settings, sources=["mercadobitcoin"], endpoints=["tickers"], now=SIM_NOW
    )
    (stats,) = summary.endpoints
    assert (stats.fetched, stats.inserted, stats.quarantined) == (4, 1, 3)
    reasons = [
        r[0] for r in query(loader_dsn, "select reason from raw.quarantine order by quarantine_id")
    ]
    assert reasons == [
        "missing key pair (None)",
        "last 'not-a-price' is not numeric",
        "impossible timestamp 99999999999.0 (epoch seconds)",
    ]
    assert query(loader_dsn, "select pair from raw.mercadobitcoin__tickers") == [("BTC-BRL",)]


async def test_one_source_failing_does_not_stop_the_others(
    sim: RunningSimulator,
    listed_settings: Settings,
    loader_dsn: str,
) -> None:
    sim.set_faults(FaultPlan.parse("kraken:server_error:p=1"))
    summary = await run_ingestion(listed_settings, sources=["kraken", "binance", "fx"], now=SIM_NOW)
    by_name = {e.name: e for e in summary.endpoints}
    assert by_name["kraken/ohlc"].status == "failed"
    assert "kraken/ohlc: GET /0/public/OHLC?pair=XBTUSD" in str(by_name["kraken/ohlc"].error)
    assert "HTTP 503" in str(by_name["kraken/ohlc"].error)
    assert by_name["kraken/ticker"].status == "failed"
    for name in ("binance/klines", "binance/ticker_24hr", "fx/rates"):
        assert by_name[name].status == "success" and by_name[name].inserted > 0
    assert count(loader_dsn, "binance__klines") > 0
    statuses = dict(
        query(
            loader_dsn,
            "select endpoint, status from raw.ingestion_runs where run_id = %s",
            [summary.run_id],
        )
    )
    assert statuses["ohlc"] == "failed" and statuses["klines"] == "success"


async def test_a_series_stops_at_its_first_failed_page_so_reruns_leave_no_gap(
    sim: RunningSimulator,
    listed_settings: Settings,
    loader_dsn: str,
) -> None:
    # Binance 1h over 100 days is 3 pages for one symbol. One request at a time and no
    # retries: page 2 fails, page 3 is fetched fine but must not be loaded past the hole.
    settings = listed_settings.model_copy(
        update={
            "assets": ("BTC",),
            "candle_intervals": ("1h",),
            "http_max_retries": 0,
            "start_date": (SIM_NOW - timedelta(days=100)).date(),
        }
    )
    sim.set_faults(FaultPlan.parse("binance:server_error:first=1,skip=1"))
    async with HttpClient(settings, concurrency_per_host=1) as http:
        first = await run_ingestion(
            settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW, http=http
        )
    assert [r["status"] for r in sim.state.request_log("binance")] == [200, 503, 200]
    assert first.endpoints[0].status == "partial"
    assert count(loader_dsn, "binance__klines") == 1000  # page 1 only, never page 3
    sim.set_faults(FaultPlan())
    await run_ingestion(settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW)
    hours = query(
        loader_dsn, "select count(*), max(open_time) - min(open_time) from raw.binance__klines"
    )[0]
    assert hours[1] == timedelta(hours=hours[0] - 1)  # contiguous: no gap


async def test_no_api_key_in_logs_lake_or_raw(
    sim: RunningSimulator,
    sim_settings: Settings,
    loader_dsn: str,
    mongo_uri: str,
    mongo_db_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "CG-fake-key-do-not-leak-4242"
    settings = sim_settings.model_copy(update={"coingecko_api_key": SecretStr(secret)})
    sim.set_faults(FaultPlan.parse("coingecko:server_error:first=1 ; coingecko:html:p=0.3"))
    caplog.set_level(logging.DEBUG)
    summary = await run_ingestion(settings, sources=["coingecko"], now=SIM_NOW)
    assert summary.total("retries") >= 1
    sent = [r for r in sim.state.request_log("coingecko")]
    assert sent  # requests were made
    assert secret not in caplog.text
    everything = json.dumps(lake_docs(mongo_uri, mongo_db_name), default=str)
    everything += json.dumps(lake_docs(mongo_uri, mongo_db_name, "quarantine"), default=str)
    assert secret not in everything
    dump = (
        query(
            loader_dsn, "select string_agg(t::text, '') from (select * from raw.ingestion_runs) t"
        )[0][0]
        or ""
    )
    assert secret not in dump and secret not in json.dumps(asdict(summary), default=str)


async def test_replay_rebuilds_raw_from_the_lake_without_calling_any_api(
    sim: RunningSimulator,
    sim_settings: Settings,
    loader_dsn: str,
) -> None:
    run = await run_ingestion(
        sim_settings, sources=["binance", "mercadobitcoin", "fx"], now=SIM_NOW
    )
    # What the run loaded: its sources' endpoints and, on this fresh warehouse, the listings
    # and ranks that resolving the assets bootstrapped.
    tables = tuple(get_table(e.source, e.endpoint).name for e in run.endpoints)
    assert "binance__klines" in tables and "coingecko__coins_list" in tables

    def records(table: str) -> list[tuple[Any, ...]]:
        return query(loader_dsn, f"select record from raw.{table} order by record::text")

    # The resolved mapping is no API response: a replay of the listings makes it again.
    mapping = (
        "select asset_id, exchange_id, exchange_symbol, response_symbol, is_requested, reason,"
        " coingecko_id, is_tracked from raw.asset_symbols order by 1, 2"
    )
    snapshot = {t: records(t) for t in tables}
    resolved = query(loader_dsn, mapping)
    assert len(resolved) == len(sim_settings.assets) * len(EXCHANGES)  # each on every exchange
    with psycopg.connect(loader_dsn, autocommit=True) as conn:
        for table in (*tables, "asset_symbols"):
            conn.execute(f"truncate raw.{table}")
    requests_before = len(sim.state.request_log())
    summary = await replay_from_lake(sim_settings)
    assert len(sim.state.request_log()) == requests_before
    assert {t: records(t) for t in tables} == snapshot
    assert query(loader_dsn, mapping) == resolved
    assert all(e.requests == 0 and e.inserted > 0 for e in summary.endpoints)
    assert all(
        e.fetched == e.inserted + e.updated + e.unchanged + e.quarantined for e in summary.endpoints
    )


async def test_backfill_by_dates_covers_whole_days(
    sim_settings: Settings,
    loader_dsn: str,
) -> None:
    day = (SIM_NOW - timedelta(days=2)).date()
    await run_ingestion(
        sim_settings,
        sources=["coinbase"],
        endpoints=["candles"],
        start=day,
        end=day,
        assets=["BTC"],
        now=SIM_NOW,
    )
    rows = query(
        loader_dsn,
        "select interval, min(open_time), max(open_time), count(*) "
        "from raw.coinbase__candles group by 1 order by 1",
    )
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert rows == [
        ("1d", midnight, midnight, 1),
        ("1h", midnight, midnight + timedelta(hours=23), 24),
    ]


def test_settings_for_points_every_source_at_the_simulator(sim_settings: Settings) -> None:
    assert all(url.startswith("http://127.0.0.1:") for url in sim_settings.base_urls().values())
    assert settings_for(sim_settings, sim_settings.base_urls()).http_max_retries == 3


async def test_a_bulk_load_leaves_its_raw_table_analyzed(
    sim_settings: Settings, loader_dsn: str
) -> None:
    # 3 assets x 200 days of hourly candles: well over the 10k rows that call for statistics.
    settings = sim_settings.model_copy(
        update={"candle_intervals": ("1h",), "start_date": (SIM_NOW - timedelta(days=200)).date()}
    )
    started = datetime.now(UTC)
    summary = await run_ingestion(
        settings, sources=["binance", "fear_greed"], endpoints=["klines", "fng"], now=SIM_NOW
    )
    assert summary.ok
    klines = next(e for e in summary.endpoints if e.name == "binance/klines")
    assert klines.inserted > 10_000
    analyzed = dict(
        query(
            loader_dsn,
            "select relname, last_analyze from pg_stat_user_tables where schemaname = 'raw'",
        )
    )
    assert analyzed["binance__klines"] is not None and analyzed["binance__klines"] > started
    planned = query(
        loader_dsn, "select reltuples from pg_class where oid = 'raw.binance__klines'::regclass"
    )[0][0]
    assert planned == klines.inserted  # the planner knows the table's size
    # A rerun of the newest hours writes a sliver of the table: no analyze.
    again = await run_ingestion(settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW)
    assert again.ok and 0 < again.total("inserted") + again.total("unchanged") < 1_000
    later = query(
        loader_dsn,
        "select last_analyze from pg_stat_user_tables"
        " where schemaname = 'raw' and relname = 'binance__klines'",
    )
    assert later == [(analyzed["binance__klines"],)]
