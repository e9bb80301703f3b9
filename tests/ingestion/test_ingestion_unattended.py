"""What keeps scheduled ingestion right day after day: closing candles fetched again in
every mode, one run per endpoint at a time, short pages failing their series, records from
the future quarantined (real simulator, PostgreSQL and MongoDB-protocol server)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from ingestion_support import SIM_NOW

from ingestion.connectors.base import ParseResult, PlanContext, PlannedRequest, Record
from ingestion.connectors.registry import get_endpoint
from ingestion.http import Response
from ingestion.run.ingest import run_ingestion
from ingestion.run.pages import Page, check_page, dated_too_late, latest_allowed
from ingestion.settings import Settings, load_settings
from ingestion.simulator import FaultPlan, RunningSimulator
from ingestion.simulator.resolved import sim_assets

DAY = SIM_NOW.replace(hour=0, minute=0)  # 2025-03-01 00:00


def rows(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def klines(dsn: str) -> dict[tuple[str, datetime], tuple[Any, bool]]:
    """(interval, open_time) -> (record, is_closed) of BTCUSDT, is_closed as dbt derives it."""
    found = rows(
        dsn,
        "select interval, open_time, record, open_time + case interval"
        " when '1h' then interval '1 hour' else interval '1 day' end"
        " <= last_seen_at from raw.binance__klines where symbol = 'BTCUSDT'",
    )
    return {(i, t): (r, closed) for i, t, r, closed in found}


def truth(sim: RunningSimulator) -> dict[tuple[str, datetime], Any]:
    served = sim.state.ground_truth("binance", "/api/v3/klines")
    return {
        (k[1], datetime.fromtimestamp(k[2] / 1000, UTC)): v
        for k, v in served.items()
        if k[0] == "BTCUSDT"
    }


async def test_a_partition_run_after_midnight_fetches_the_previous_days_closing_candles(
    sim: RunningSimulator,
    sim_settings: Settings,
    loader_dsn: str,
) -> None:
    """The 23:05 run leaves 23:00 (1h) and the day (1d) open; the 00:05 run of the next day's
    partition fetches both again, final, and flags only the new open candles open."""
    settings = sim_settings.model_copy(update={"assets": ("BTC",)})
    late = DAY.replace(hour=23, minute=5)
    sim.set_now(late)
    await run_ingestion(
        settings, sources=["binance"], endpoints=["klines"], now=late, start=DAY, end=late
    )
    before = klines(loader_dsn)
    assert before[("1h", DAY.replace(hour=23))][1] is False
    assert before[("1d", DAY)][1] is False
    after_midnight = DAY + timedelta(days=1, minutes=5)
    sim.set_now(after_midnight)
    summary = await run_ingestion(
        settings,
        sources=["binance"],
        endpoints=["klines"],
        now=after_midnight,
        start=DAY + timedelta(days=1),
        end=after_midnight,
    )
    assert summary.ok, summary.endpoints[0].error
    loaded, served = klines(loader_dsn), truth(sim)
    assert {k: v[0] for k, v in loaded.items()} == served  # every candle as last served
    assert loaded[("1h", DAY.replace(hour=23))] == (served[("1h", DAY.replace(hour=23))], True)
    assert loaded[("1d", DAY)][1] is True
    still_open = sorted(k for k, (_, closed) in loaded.items() if not closed)
    assert still_open == [("1d", DAY + timedelta(days=1)), ("1h", DAY + timedelta(days=1))]
    assert any("still open when last fetched" in n for n in summary.endpoints[0].notes)


async def test_two_runs_of_one_endpoint_started_together_take_turns(
    sim: RunningSimulator,
    listed_settings: Settings,
    loader_dsn: str,
) -> None:
    settings = listed_settings.model_copy(update={"assets": ("BTC",)})
    sim.set_faults(FaultPlan.parse("binance:latency:p=1,delay=0.4"))  # a slow provider
    first, second = await asyncio.gather(
        *(
            run_ingestion(settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW)
            for _ in range(2)
        )
    )
    runs = sorted([first.endpoints[0], second.endpoints[0]], key=lambda s: s.fetched)
    assert all(s.status == "success" for s in runs)
    # The second waited for the first, then planned from what it had loaded: it fetched
    # only the still-open candles again, and wrote nothing older over anything newer.
    assert any(n.startswith("waited ") for n in runs[0].notes), runs[0].notes
    assert runs[0].fetched == 2 and runs[1].fetched > 70
    assert runs[0].inserted == 0
    assert {k: v[0] for k, v in klines(loader_dsn).items()} == truth(sim)
    ((duplicates,),) = rows(
        loader_dsn,
        "select count(*) - count(distinct (symbol, interval, open_time)) from raw.binance__klines",
    )
    assert duplicates == 0


async def test_an_empty_page_fails_its_series_and_the_cursor_never_passes_the_hole(
    sim: RunningSimulator,
    listed_settings: Settings,
    loader_dsn: str,
) -> None:
    settings = listed_settings.model_copy(
        update={
            "assets": ("BTC",),
            "candle_intervals": ("1h",),
            "start_date": (SIM_NOW - timedelta(days=60)).date(),
        }
    )
    # Binance: two pages of 1h candles; the first comes back empty (HTTP 200, no rows).
    sim.set_faults(FaultPlan.parse("binance:empty:first=1"))
    failed = await run_ingestion(settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW)
    stats = failed.endpoints[0]
    assert stats.status == "failed"
    assert "short page, no record for" in (stats.error or "")
    assert any("short page" in n for n in stats.notes)
    ((loaded,),) = rows(loader_dsn, "select count(*) from raw.binance__klines")
    assert loaded == 0  # page 2 came fine, but loading it would leave a hole behind
    sim.set_faults(FaultPlan())
    again = await run_ingestion(settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW)
    assert again.ok
    ((hours, span),) = rows(
        loader_dsn, "select count(*), max(open_time) - min(open_time) from raw.binance__klines"
    )
    assert span == timedelta(hours=hours - 1)


async def test_a_coin_listed_after_the_start_date_loads_from_its_listing(
    sim: RunningSimulator,
    sim_settings: Settings,
    loader_dsn: str,
) -> None:
    """Binance 1h pages of 1000 hours from 90 days back: the first page lies wholly before
    the listing (20 days back) and comes back empty. That is no hole: the run succeeds and
    loads every candle from the listing on; a coin not listed yet loads nothing, fails
    nothing, and says so."""
    settings = sim_settings.model_copy(
        update={
            "assets": ("BTC",),
            "candle_intervals": ("1h",),
            "start_date": (SIM_NOW - timedelta(days=90)).date(),
        }
    )
    listed = DAY - timedelta(days=20)
    sim.state.config.history_start = listed
    summary = await run_ingestion(settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW)
    stats = summary.endpoints[0]
    assert stats.status == "success", stats.error
    assert stats.requests >= 3  # the empty page, the listing's page, the rest
    ((first, hours),) = rows(loader_dsn, "select min(open_time), count(*) from raw.binance__klines")
    assert first == listed
    assert hours == int((SIM_NOW - listed) / timedelta(hours=1)) + 1  # and the open hour
    # Not listed yet at all: every page empty, nothing loaded, a note, no failure.
    with psycopg.connect(loader_dsn, autocommit=True) as conn:
        conn.execute("truncate raw.binance__klines")
    sim.state.config.history_start = SIM_NOW + timedelta(days=1)
    later = await run_ingestion(settings, sources=["binance"], endpoints=["klines"], now=SIM_NOW)
    assert later.ok and later.endpoints[0].fetched == 0
    assert any("not listed yet" in n for n in later.endpoints[0].notes)


def _page(
    spec_name: tuple[str, str], request: PlannedRequest, records: list[Record], fetched_at: datetime
) -> Page:
    response = Response(
        spec_name[0], spec_name[1], request.path, request.params, 200, {}, "", None, fetched_at
    )
    return Page(request, response, ParseResult(records), "x" * 32)


def test_a_hole_the_provider_is_known_to_leave_is_recorded_not_failed() -> None:
    coinbase, binance = get_endpoint("coinbase", "candles"), get_endpoint("binance", "klines")
    start, fetched = DAY, DAY + timedelta(hours=5, minutes=10)
    hours = [start + timedelta(hours=h) for h in (0, 1, 3, 4)]  # no candle at 02:00
    for spec, series in ((coinbase, ("BTC-USD", "1h")), (binance, ("BTCUSDT", "1h"))):
        ctx = PlanContext(
            load_settings(candle_intervals=("1h",)),
            sim_assets("BTC"),
            fetched,
            start,
            fetched,
            {},
        )
        request = spec.plan(ctx)[0]
        page = _page(
            (spec.source, spec.endpoint),
            request,
            [Record((*series, t), []) for t in hours],
            fetched,
        )
        hole, known = check_page(spec, page, {series: None})  # type: ignore[dict-item]
        if spec is coinbase:  # Coinbase sends no candle for an hour without trades
            assert hole is None
            assert [(k.series, k.period_start) for k in known] == [
                ("BTC-USD 1h", start + timedelta(hours=2))
            ]
        else:
            assert (hole, known) == (start + timedelta(hours=2), [])


def test_records_dated_after_the_clock_plus_one_interval_are_refused() -> None:
    latest = latest_allowed(SIM_NOW)
    open_now = Record(("BTCUSDT", "1h", SIM_NOW.replace(minute=0)), [])
    next_hour = Record(("BTCUSDT", "1h", SIM_NOW + timedelta(hours=2)), [])
    tomorrow_fng = Record((SIM_NOW.date() + timedelta(days=1),), {})
    later_fng = Record((date(2025, 3, 9),), {})
    assert dated_too_late(open_now, latest) is None
    assert dated_too_late(tomorrow_fng, latest) is None
    assert "after the run's clock plus one interval" in (dated_too_late(next_hour, latest) or "")
    assert dated_too_late(later_fng, latest) is not None
