"""Rate limits and bans against the simulator: 418 stops the source for the run, 429 pauses
the whole host, Retry-After is honoured as seconds or an HTTP date, within bounds."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from datetime import datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp import web
from ingestion_support import SIM_NOW
from pymongo import MongoClient

from ingestion.connectors.binance import published_weight_budget
from ingestion.connectors.registry import describe
from ingestion.errors import BodyTooLargeError, RequestError
from ingestion.http import HttpClient, retry_after_seconds
from ingestion.pacing import WeightBudget
from ingestion.run.ingest import run_ingestion
from ingestion.settings import Settings
from ingestion.simulator import FaultPlan, RunningSimulator

KLINES = "/api/v3/klines"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PARAMS = {"symbol": "BTCUSDT", "interval": "1h", "limit": "5"}


def arrivals(sim: RunningSimulator, source: str) -> list[tuple[int, datetime, Any]]:
    """(request number, arrival time, status) of every request the simulator got."""
    return [
        (r["n"], datetime.fromisoformat(r["at"]), r.get("status"))
        for r in sim.state.request_log(source)
    ]


async def test_a_418_ban_stops_the_source_for_the_run_without_retrying(
    sim: RunningSimulator,
    listed_settings: Settings,
    loader_dsn: str,
) -> None:
    sim.set_faults(FaultPlan.parse("binance:ban:first=1,retry_after=7200"))
    settings = listed_settings.model_copy(update={"candle_intervals": ("1h",)})
    started = time.monotonic()
    async with HttpClient(settings, concurrency_per_host=1) as http:  # one at a time
        summary = await run_ingestion(
            settings,
            sources=["binance", "kraken"],
            endpoints=["klines", "ticker_24hr", "ticker"],
            now=SIM_NOW,
            http=http,
        )
    assert time.monotonic() - started < 10  # no waiting out a two-hour ban
    by_name = {e.name: e for e in summary.endpoints}
    assert by_name["kraken/ticker"].status == "success"
    for name in ("binance/klines", "binance/ticker_24hr"):
        stats = by_name[name]
        assert stats.status == "failed" and stats.retries == 0
        assert str(stats.error).count("HTTP 418") == 1, stats.error  # said once, clearly
        assert "banned this IP for 7200s" in str(stats.error)
        assert any("banned this IP" in note for note in stats.notes)
    # One request met the ban; none was sent after it.
    assert [status for _, _, status in arrivals(sim, "binance")] == [418]
    with psycopg.connect(loader_dsn) as conn:
        rows = conn.execute(
            "select endpoint, status, error from raw.ingestion_runs "
            "where run_id = %s and source = 'binance'",
            [summary.run_id],
        ).fetchall()
    assert sorted((e, s) for e, s, _ in rows) == [("klines", "failed"), ("ticker_24hr", "failed")]
    assert all("HTTP 418" in error for _, _, error in rows)


async def test_a_429_pauses_every_slot_of_the_host(
    sim: RunningSimulator, sim_settings: Settings
) -> None:
    # Request 0 is refused at once; the next seven, already sent, answer slowly; the other
    # eight wait for a slot. None of those may start before the Retry-After is over.
    sim.set_faults(
        FaultPlan.parse("binance:rate_limit:first=1,retry_after=1 ; binance:latency:p=1,delay=0.2")
    )
    settings = sim_settings.model_copy(update={"http_retry_after_min_seconds": 0.0})
    async with HttpClient(settings, concurrency_per_host=8) as http:
        responses = await asyncio.gather(
            *(
                http.get_json("binance", "klines", KLINES, {**PARAMS, "limit": str(i + 1)})
                for i in range(16)
            )
        )
    assert all(r.status == 200 for r in responses)
    log = arrivals(sim, "binance")
    refused_at = next(at for n, at, status in log if status == 429)
    later = [at for n, at, _ in log if n >= 8]
    assert len(later) == 9  # eight queued requests and the refused one's retry
    assert min(later) >= refused_at + timedelta(seconds=0.95), (refused_at, min(later))


@pytest.mark.parametrize(
    ("plan", "floor", "gap"),
    [
        # An HTTP date has whole seconds: 2 s ahead is 1 to 2 s away (the backoff alone
        # would be ~0.05 s, and the date used to be ignored).
        ("binance:rate_limit:first=1,retry_after=2,retry_after_date=1", 0.0, 0.95),
        # Retry-After: 0 used to retry at once; the floor holds.
        ("binance:rate_limit:first=1,retry_after=0", 0.5, 0.5),
    ],
    ids=["http-date", "zero-means-the-floor"],
)
async def test_retry_after_is_honoured_as_a_date_and_within_a_floor(
    sim: RunningSimulator,
    sim_settings: Settings,
    plan: str,
    floor: float,
    gap: float,
) -> None:
    sim.set_faults(FaultPlan.parse(plan))
    settings = sim_settings.model_copy(update={"http_retry_after_min_seconds": floor})
    async with HttpClient(settings) as http:
        await http.get_json("binance", "klines", KLINES, PARAMS)
    (_, refused, _), (_, retried, _) = arrivals(sim, "binance")
    assert retried - refused >= timedelta(seconds=gap)


async def test_a_retry_after_beyond_the_longest_wait_fails_the_host_at_once(
    sim: RunningSimulator, sim_settings: Settings
) -> None:
    sim.set_faults(FaultPlan.parse("binance:rate_limit:first=1,retry_after=600"))
    settings = sim_settings.model_copy(update={"http_retry_after_max_seconds": 30.0})
    started = time.monotonic()
    async with HttpClient(settings) as http:
        with pytest.raises(
            RequestError,
            match="Retry-After 600s, longer than CRIPTOPIPE_HTTP_RETRY_AFTER_MAX_SECONDS=30",
        ):
            await http.get_json("binance", "klines", KLINES, PARAMS)
        with pytest.raises(RequestError, match="asked us to wait"):  # not sent at all
            await http.get_json("binance", "ticker_24hr", "/api/v3/ticker/24hr", {})
    assert time.monotonic() - started < 5
    assert len(arrivals(sim, "binance")) == 1


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    now = 1_700_000_000.0
    assert retry_after_seconds({"Retry-After": "120"}, now) == 120.0
    assert retry_after_seconds({"retry-after": " 1.5 "}, now) == 1.5
    assert retry_after_seconds({"Retry-After": "-5"}, now) == 0.0
    assert retry_after_seconds({"Retry-After": formatdate(now + 90, usegmt=True)}, now) == 90.0
    assert retry_after_seconds({"Retry-After": formatdate(now - 90, usegmt=True)}, now) == 0.0
    assert retry_after_seconds({"Retry-After": "soon"}, now) is None
    assert retry_after_seconds({"Retry-After": "inf"}, now) is None
    assert retry_after_seconds({}, now) is None


def test_a_server_given_wait_has_a_floor_and_jitter(sim_settings: Settings) -> None:
    client = HttpClient(sim_settings.model_copy(update={"http_retry_after_min_seconds": 2.0}))
    waits = [client._backoff(0, 10.0) for _ in range(200)]
    assert all(10.0 <= w <= 11.0 for w in waits) and len(set(waits)) > 100
    assert all(2.0 <= client._backoff(0, 0.0) <= 2.2 for _ in range(50))


async def test_a_body_over_the_cap_fails_its_request_cleanly_gzip_included(
    sim_settings: Settings,
    stand_in: Any,
) -> None:
    body = json.dumps([[1709251200000, "1", "1", "1", "1", "1"]] * 20_000).encode()
    packed = gzip.compress(body)
    assert len(packed) < 20_000 < len(body)  # small on the wire, big once unpacked

    async def klines(request: web.Request) -> web.Response:
        return web.Response(
            body=packed, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    root = await stand_in(KLINES, klines)
    settings = sim_settings.model_copy(
        update={"binance_base_url": root, "http_max_body_bytes": 100_000}
    )
    async with HttpClient(settings) as http:
        with pytest.raises(BodyTooLargeError, match="over 100000 bytes once decompressed"):
            await http.get_json("binance", "klines", KLINES, PARAMS)
        assert http.counter("binance", "klines").requests == 1  # not retried
    bigger = settings.model_copy(update={"http_max_body_bytes": len(body)})
    async with HttpClient(bigger) as http:
        response = await http.get_json("binance", "klines", KLINES, PARAMS)
    assert len(response.data) == 20_000


# --------------------------------------------------------- Binance's published weight budget
def _exchange_info(name: str) -> Any:
    return json.loads((FIXTURES / "binance" / name).read_text())


@pytest.mark.parametrize(
    ("fixture", "budget"),
    [
        ("exchange_info.json", 6000),  # api.binance.com, 2023
        ("exchange_info_trading_2025.json", 6000),  # data-api.binance.vision, 2025
        ("exchange_info_binance_us.json", 1200),  # Binance.US
    ],
)
def test_the_weight_budget_is_the_one_a_real_exchange_info_publishes(
    fixture: str, budget: int
) -> None:
    assert published_weight_budget("/api/v3/exchangeInfo", _exchange_info(fixture)) == budget
    weight = WeightBudget(describe("binance").weight)  # type: ignore[arg-type]
    assert weight.budget == 1200  # the smallest published, until the host says its own
    assert weight.learn("/api/v3/exchangeInfo", _exchange_info(fixture)) == budget
    assert weight.budget == budget and weight.published
    # at 1,150 of 6,000 nothing slows down; of Binance.US's 1,200 it does
    weight.observe({"X-MBX-USED-WEIGHT-1M": "1150"})
    assert (weight.delay() == 0.0) == (budget == 6000)


def _limits(**changed: Any) -> dict[str, Any]:
    """An ``exchangeInfo`` body with one rate limit: the minute's weight, but ``changed``."""
    limit = {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1}
    return {"rateLimits": [{**limit, "limit": 6000, **changed}]}


@pytest.mark.parametrize(
    "body",
    [
        {"rateLimits": "6000"},
        {"rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE"}]},
        _limits(limit="6000"),
        _limits(limit=0),
        _limits(limit=True),
        _limits(interval="SECOND", intervalNum=10),
        _limits(rateLimitType="RAW_REQUESTS"),
        [],
        None,
    ],
)
def test_a_body_without_a_readable_minute_weight_limit_keeps_the_budget(body: Any) -> None:
    weight = WeightBudget(describe("binance").weight)  # type: ignore[arg-type]
    assert weight.learn("/api/v3/exchangeInfo", body) is None
    assert weight.budget == 1200 and not weight.published
    # and no other response is read for one
    assert published_weight_budget(KLINES, _exchange_info("exchange_info.json")) is None


async def test_a_run_paces_binance_by_the_budget_its_exchange_info_published(
    sim: RunningSimulator,
    sim_settings: Settings,
    loader_dsn: str,
    mongo_uri: str,
    mongo_db_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The simulator publishes Binance's 6000 a minute. The run that fetches the listing
    takes it before any kline; a later run that does not fetch it takes it from the lake
    (the document the listing's newest raw row names); a stored listing that cannot be
    read leaves the smallest published budget, and the run goes on."""
    settings = sim_settings.model_copy(update={"candle_intervals": ("1h",)})
    async with HttpClient(settings) as http:
        assert http.weight_budget("binance") == 1200
        first = await run_ingestion(
            settings, sources=["binance"], endpoints=["exchange_info", "klines"], http=http
        )
        assert http.weight_budget("binance") == 6000
    statuses = {e.name: e.status for e in first.endpoints}  # with the other listings
    assert statuses["binance/exchange_info"] == statuses["binance/klines"] == "success"
    sim.state.requests.clear()
    async with HttpClient(settings) as http:
        again = await run_ingestion(settings, sources=["binance"], endpoints=["klines"], http=http)
        assert http.weight_budget("binance") == 6000  # from the lake: no listing fetched
    assert [e.status for e in again.endpoints] == ["success"]
    assert not any("exchangeInfo" in r["path"] for r in sim.state.request_log("binance"))

    # The stored listing's body is damaged: the run warns, keeps 1200, loads.
    with psycopg.connect(loader_dsn) as conn:
        [(document_id,)] = conn.execute(
            "select lake_document_id from raw.binance__exchange_info"
            " order by fetched_at desc limit 1"
        ).fetchall()
    with MongoClient[dict[str, Any]](mongo_uri) as client:
        responses = client[mongo_db_name]["responses"]
        assert "body_zstd" in (responses.find_one({"_id": document_id}) or {})
        responses.update_one({"_id": document_id}, {"$set": {"body_zstd": b"not zstd"}})
    async with HttpClient(settings) as http:
        kept = await run_ingestion(settings, sources=["binance"], endpoints=["klines"], http=http)
        assert http.weight_budget("binance") == 1200
    assert [e.status for e in kept.endpoints] == ["success"]
    assert "the newest exchange_info in the lake could not be read" in caplog.text
