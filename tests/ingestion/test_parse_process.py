"""Candle pages parsed in the run's parse process (ingestion.run.offload): the same rows,
lake documents and numbers as when the run's own process parses them; odd pages and a
dead worker fall back to the run's process."""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from ingestion_support import SIM_NOW
from psycopg import sql
from pymongo import MongoClient

from ingestion.connectors.base import PlannedRequest
from ingestion.connectors.registry import get_endpoint
from ingestion.http import Response
from ingestion.run import offload
from ingestion.run.ingest import run_ingestion
from ingestion.run.pages import Page, collect, prepare_page, read_page
from ingestion.run.results import EndpointStats, RunSummary
from ingestion.settings import Settings
from ingestion.sinks.raw.rows import QuarantineRow, RawRow

CANDLES = (["binance", "coinbase", "kraken", "mercadobitcoin"], ["klines", "candles", "ohlc"])
CANDLE_PAGES = {"endpoint": {"$in": CANDLES[1]}}
TABLES = ("binance__klines", "coinbase__candles", "kraken__ohlc", "mercadobitcoin__candles")


async def _run(settings: Settings) -> RunSummary:
    return await run_ingestion(
        settings,
        sources=CANDLES[0],
        endpoints=CANDLES[1],
        start=SIM_NOW - timedelta(days=3),
        now=SIM_NOW,
    )


def _landed(loader_dsn: str, mongo_uri: str, mongo_db_name: str) -> dict[str, Any]:
    """Every candle row (run id aside) and every lake document's record fields."""
    landed: dict[str, Any] = {}
    with psycopg.connect(loader_dsn) as conn:
        for table in TABLES:
            statement = sql.SQL("select * from {} order by 1, 2, 3")
            landed[table] = conn.execute(statement.format(sql.Identifier("raw", table))).fetchall()
    with MongoClient[dict[str, Any]](mongo_uri, tz_aware=True) as client:
        landed["lake"] = sorted(
            (d["_id"], d["record_count"], d["records_from"], d["records_to"])
            for d in client[mongo_db_name]["responses"].find(CANDLE_PAGES)
        )
    return landed


def _without_run_ids(landed: dict[str, Any], run_id: str) -> dict[str, Any]:
    return {
        name: [tuple("<run>" if v == run_id else v for v in row) for row in rows]
        for name, rows in landed.items()
    }


def _clean(loader_dsn: str, mongo_uri: str, mongo_db_name: str) -> None:
    with psycopg.connect(loader_dsn, autocommit=True) as conn:
        for table in (*TABLES, "ingestion_runs", "quarantine"):
            conn.execute(sql.SQL("truncate {}").format(sql.Identifier("raw", table)))
    with MongoClient[dict[str, Any]](mongo_uri) as client:
        client[mongo_db_name]["responses"].delete_many(CANDLE_PAGES)


def _numbers(summary: RunSummary) -> list[tuple[Any, ...]]:
    return [
        (e.name, e.status, e.fetched, e.inserted, e.updated, e.unchanged, e.quarantined)
        for e in summary.endpoints
    ]


async def test_the_parse_process_lands_what_the_run_process_lands(
    listed_settings: Settings,
    loader_dsn: str,
    mongo_uri: str,
    mongo_db_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ingestion.run.offload")
    forced = listed_settings.model_copy(
        update={"parse_process": True, "parse_process_min_pages": 0}
    )
    offloaded = await _run(forced)
    assert all(e.status == "success" for e in offloaded.endpoints), _numbers(offloaded)
    assert "parse process: 0 pages" not in caplog.text
    assert "pages prepared there" in caplog.text
    there = _without_run_ids(_landed(loader_dsn, mongo_uri, mongo_db_name), offloaded.run_id)
    _clean(loader_dsn, mongo_uri, mongo_db_name)
    caplog.clear()
    at_home = await _run(listed_settings.model_copy(update={"parse_process": False}))
    assert "pages prepared there" not in caplog.text
    here = _without_run_ids(_landed(loader_dsn, mongo_uri, mongo_db_name), at_home.run_id)
    assert all(here[t] for t in TABLES)
    assert there == here
    assert _numbers(offloaded) == _numbers(at_home)


def _die(*args: object) -> None:
    os._exit(3)  # the worker process dies mid-page


async def test_a_dead_parse_process_leaves_the_pages_to_the_run_process(
    listed_settings: Settings,
    loader_dsn: str,
    mongo_uri: str,
    mongo_db_name: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(offload, "_prepare", _die)  # the forked worker has it too
    forced = listed_settings.model_copy(
        update={"parse_process": True, "parse_process_min_pages": 0}
    )
    summary = await _run(forced)
    assert "parse process failed (BrokenProcessPool" in caplog.text
    assert all(e.status == "success" for e in summary.endpoints), _numbers(summary)
    assert all(e.fetched == e.inserted > 0 for e in summary.endpoints)
    with psycopg.connect(loader_dsn) as conn:
        (rows,) = conn.execute("select count(*) from raw.binance__klines").fetchone() or (0,)
    assert rows == next(e.inserted for e in summary.endpoints if e.name == "binance/klines")


FETCHED = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


async def test_the_worker_keeps_none_of_the_runs_sockets(settings: Settings) -> None:
    parser = offload.PageParser(
        settings.model_copy(update={"parse_process": True, "parse_process_min_pages": 0})
    )
    request, body = _klines([_kline(FETCHED - timedelta(hours=2))])
    with socket.socket() as held:  # open in the run's process when the worker forks
        held.bind(("127.0.0.1", 0))
        try:
            page = await parser.read(
                get_endpoint("binance", "klines"), request, _response(body, orjson.dumps(body)), "d"
            )
            assert page.prepared is not None
            assert parser._pool is not None
            (worker,) = parser._pool._processes
            fds = os.listdir(f"/proc/{worker}/fd")
            kinds = {os.readlink(f"/proc/{worker}/fd/{fd}").split(":")[0] for fd in fds}
            assert "socket" not in kinds and "pipe" in kinds
        finally:
            parser.close()


def _klines(rows: list[list[Any]]) -> tuple[PlannedRequest, Any]:
    request = PlannedRequest(
        "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1h", "limit": "1000"}
    )
    return request, rows


def _kline(at: datetime, close: Any = "1.5") -> list[Any]:
    ms = int(at.timestamp() * 1000)
    return [ms, "1.0", "2.0", "0.5", close, "10.0", ms + 3_599_999, "15.0", 3, "5.0", "7.5", "0"]


def test_a_usual_page_prepared_gives_the_rows_the_run_process_gives() -> None:
    spec = get_endpoint("binance", "klines")
    start = FETCHED - timedelta(hours=5)
    request, body = _klines([_kline(start + timedelta(hours=i)) for i in range(4)])
    prepared = prepare_page(spec, request, body, FETCHED)
    assert prepared is not None
    page_there = Page(
        request, _response(body), read_page(spec, request, _response(body), "d").parsed, "d"
    )
    rows_here: list[RawRow] = []
    rows_there: list[RawRow] = []
    rejected: list[QuarantineRow] = []
    collect(spec, read_page(spec, request, _response(body), "d"), rows_here, rejected, _stats())
    page_there.prepared, page_there.first, page_there.last = prepared
    collect(spec, page_there, rows_there, rejected, _stats())
    assert rows_there == rows_here and len(rows_here) == 4 and not rejected
    assert prepared[1:] == (start, start + timedelta(hours=3))


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([_kline(FETCHED - timedelta(hours=2), close="abc")], id="a refused record"),
        pytest.param([_kline(FETCHED + timedelta(hours=1))], id="a record from the future"),
    ],
)
def test_a_page_that_needs_care_is_handed_back(rows: list[list[Any]]) -> None:
    request, body = _klines(rows)
    assert prepare_page(get_endpoint("binance", "klines"), request, body, FETCHED) is None


def test_bodies_orjson_does_not_read_exactly_are_handed_back() -> None:
    request, _ = _klines([])
    for raw in (b"[[1, 2", b'[[1700000000000, "1", "2", "3", "4", 123456789012345678901]]'):
        assert offload._prepare("binance", "klines", request, raw, FETCHED) is None


def _response(body: Any, raw: bytes | None = None) -> Response:
    return Response("binance", "klines", "/api/v3/klines", {}, 200, {}, "", body, FETCHED, raw)


def _stats() -> EndpointStats:
    return EndpointStats("binance", "klines")
