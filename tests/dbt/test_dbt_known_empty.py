"""Coinbase's minutes without trades, end to end: recorded as known-empty, never chased.

The simulator leaves out the minutes of its thin Coinbase products that had no trade, as
the real API does (``coinbase_no_trade_rate``; BTC-USD misses none). Through the real
pipeline into PostgreSQL, a backfill of a day of minutes, then an incremental run: every
hole inside the loaded span is in raw.known_empty and nothing else is (a hole at the end
of a page too, once the next page has a record), the runs succeed, the later run does not
ask for them again, the gap sensor's check passes their days, and dbt's rollup
reconciliation passes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from dbt_helpers import DbtDatabase

from ingestion.connectors.registry import get_endpoint
from ingestion.run.results import RunSummary
from ingestion.settings import SOURCES
from ingestion.simulator import SimulatorConfig, run_simulator

NOW = datetime(2025, 3, 1, 12, 30, 20, tzinfo=UTC)
LATER = NOW + timedelta(minutes=20)
START = NOW - timedelta(hours=26)
INTERVALS = ("1m", "5m", "1h")
ENDPOINT = "/products/{id}/candles"
RATE = 0.2  # a thinner market than the default 0.05
SEED = 1  # two pages of the backfill's LTC-USD minutes end in minutes without trades
SELECT = (
    "+fct_candles",
    "+fct_candle_rollups",
    "assert_candle_rollups_match_exchange_candles",
)


@dataclass
class Loaded:
    db: DbtDatabase
    first: RunSummary
    second: RunSummary
    truth: set[tuple[str, str, int]]  # (product, granularity, open time s) served
    first_requests: list[dict[str, Any]]
    second_requests: list[dict[str, Any]]


async def _ingest(db: DbtDatabase, sim_urls: dict[str, str], now: datetime, backfill: bool) -> Any:
    from ingestion.run.ingest import run_ingestion

    settings = db.settings.model_copy(
        update={
            **{f"{s}_base_url": sim_urls[s] for s in SOURCES},
            "http_rate_limits": {s: 0 for s in SOURCES},
            "candle_intervals": INTERVALS,
            "assets": ("LTC", "BTC"),
        }
    )
    return await run_ingestion(
        settings,
        sources=["coinbase"],
        endpoints=["candles"],
        start=START if backfill else None,
        end=now if backfill else None,
        now=now,
    )


@pytest.fixture(scope="module")
def loaded(dbt_db: DbtDatabase) -> Iterator[Loaded]:
    async def go() -> Loaded:
        config = SimulatorConfig(seed=SEED, now=NOW, coinbase_no_trade_rate=RATE)
        async with run_simulator(config) as sim:
            first = await _ingest(dbt_db, sim.base_urls, NOW, backfill=True)
            n = len(sim.state.request_log("coinbase"))
            sim.set_now(LATER)
            second = await _ingest(dbt_db, sim.base_urls, LATER, backfill=False)
            log = sim.state.request_log("coinbase")
            truth = {
                (str(k[0]), str(k[1]), int(k[2]))
                for k in sim.state.ground_truth("coinbase", ENDPOINT)
            }
            candles = [r for r in log if r["path"].endswith("/candles")]
            return Loaded(
                dbt_db,
                first,
                second,
                truth,
                [r for r in candles if r["seq"] <= log[n - 1]["seq"]],
                [r for r in candles if r["seq"] > log[n - 1]["seq"]],
            )

    yield asyncio.run(go())


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _rows(dsn: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def _s(t: datetime) -> int:
    return int(t.timestamp())


def test_runs_succeed_and_load_exactly_what_was_served(loaded: Loaded) -> None:
    for summary in (loaded.first, loaded.second):
        assert summary.ok, [(e.name, e.error) for e in summary.failed]
    notes = [n for e in loaded.first.endpoints for n in e.notes]
    # one note a series, however many of its pages had such periods, with their number
    (ltc,) = [n for n in notes if n.startswith("LTC-USD 1m:") and "known-empty" in n]
    [(recorded,)] = _rows(
        loaded.db.loader_dsn,
        "select count(*) from raw.known_empty where source = 'coinbase' and run_id = %s"
        " and series = 'LTC-USD 1m'",
        [loaded.first.run_id],
    )
    assert ltc.startswith(f"LTC-USD 1m: {recorded:,} period(s) ") and recorded > 1, notes
    rows = _rows(
        loaded.db.loader_dsn,
        "select product_id, interval, open_time from raw.coinbase__candles",
    )
    granularity = {"1m": "60", "5m": "300", "1h": "3600"}
    assert {(p, granularity[i], _s(t)) for p, i, t in rows} == loaded.truth


def test_every_hole_inside_the_loaded_span_is_known_empty(loaded: Loaded) -> None:
    dsn = loaded.db.loader_dsn
    # The minutes missing between the first and the newest loaded minute of each series ...
    holes = _rows(
        dsn,
        """
        with span as (
            select product_id, interval, min(open_time) as lo, max(open_time) as hi
            from raw.coinbase__candles where interval = '1m' group by 1, 2
        )
        select s.product_id || ' ' || s.interval, m
        from span s, generate_series(s.lo, s.hi, interval '1 minute') as m
        where not exists (
            select from raw.coinbase__candles c
            where c.product_id = s.product_id and c.interval = s.interval and c.open_time = m
        )
        """,
    )
    known = _rows(
        dsn,
        "select series, period_start from raw.known_empty"
        " where source = 'coinbase' and endpoint = 'candles' and series like '%% 1m'",
    )
    assert sorted(known) == sorted(holes)  # ... are exactly the known-empty ones
    assert 0.1 * 1580 < len(known) < 0.4 * 1580  # LTC-USD's; about RATE of its minutes
    assert {series for series, _ in known} == {"LTC-USD 1m"}  # BTC-USD trades every minute
    # A page of the backfill ended in minutes without trades (the next page had records):
    # the case the pipeline has to carry across pages.
    ends = {
        ("LTC-USD 1m", _at(r["query"]["end"]))
        for r in loaded.first_requests
        if "/LTC-USD/" in r["path"] and r["query"]["granularity"] == "60"
    }
    ends.discard(("LTC-USD 1m", NOW.replace(second=0)))  # the last page's: the open minute
    assert len(ends) == 5 and len(ends & set(known)) == 2, "pick the seed again"


def test_the_next_run_does_not_ask_for_the_holes_again(loaded: Loaded) -> None:
    # It resumes each series at the candle that was still open at the first run's clock.
    resume = {
        "60": NOW.replace(second=0),
        "300": NOW.replace(second=0),
        "3600": NOW.replace(minute=0, second=0),
    }
    assert len(loaded.second_requests) == 6  # one page per product and interval
    for request in loaded.second_requests:
        start = _at(request["query"]["start"])
        assert start == resume[request["query"]["granularity"]], request
    [(recorded_again,)] = _rows(
        loaded.db.loader_dsn,
        "select count(*) from raw.known_empty where run_id = %s and period_start < %s",
        [loaded.second.run_id, NOW - timedelta(minutes=5)],
    )
    assert recorded_again == 0


def test_the_gap_check_passes_known_empty_minutes_and_flags_a_real_hole(loaded: Loaded) -> None:
    from orchestration.automation import GapTable, find_gaps

    table = GapTable(get_endpoint("coinbase", "candles"), "candles")
    with psycopg.connect(loaded.db.loader_dsn) as conn:
        assert find_gaps(conn, table, LATER) == []
        # Without the known-empty row, the same minute is a gap on its day.
        [(hole,)] = conn.execute(
            "delete from raw.known_empty where ctid = (select ctid from raw.known_empty"
            " where series = 'LTC-USD 1m' order by period_start limit 1) returning period_start"
        ).fetchall()
        assert find_gaps(conn, table, LATER) == [hole.astimezone(UTC).date()]
        conn.rollback()  # put it back
        assert find_gaps(conn, table, LATER) == []


def test_rollups_count_known_empty_minutes_and_reconcile(loaded: Loaded) -> None:
    # The blocking reconciliation test is part of the build: it must pass (check=True).
    loaded.db.dbt("build", "--select", *SELECT, "--indirect-selection", "cautious")
    [(compared, gappy_compared, gappy_incomplete)] = _rows(
        loaded.db.transformer_dsn,
        "select count(*) filter (where has_native and is_complete and is_closed"
        " and is_native_closed),"
        " count(*) filter (where exchange_id = 'coinbase' and asset_id = 'LTC'"
        " and known_empty_candles > 0 and is_complete and has_native and is_closed"
        " and is_native_closed),"
        " count(*) filter (where known_empty_candles > 0 and not is_complete"
        " and open_at >= %(first)s and close_at <= %(last)s)"
        " from marts.fct_candle_rollups",
        {"first": START.replace(second=0), "last": LATER.replace(second=0)},
    )
    # LTC-USD's 5m and hours built from the minutes that traded plus the known-empty ones
    # are complete, so they were compared with Coinbase's own 5m and hourly candles.
    assert gappy_compared > 100 and compared > gappy_compared
    assert gappy_incomplete == 0  # of the buckets inside the loaded span
    # Coinbase has no 4h candle: the rollups of its minutes close despite the holes.
    [(closed_4h, with_holes)] = _rows(
        loaded.db.transformer_dsn,
        "select count(*) filter (where is_closed), count(*) filter (where is_closed"
        " and source_candles < 240) from marts.fct_candles"
        " where exchange_id = 'coinbase' and asset_id = 'LTC' and interval = '4h'",
    )
    assert closed_4h >= 5 and with_holes == closed_4h


def test_a_window_in_the_past_that_ends_in_a_hole_records_it(loaded: Loaded) -> None:
    """A partition or backfill run whose window ends in minutes without trades: no later
    page tells, but raw.* already holds later minutes, so they are known-empty too (else
    the gap sensor would ask for that day again and again)."""
    from orchestration.automation import GapTable, find_gaps

    dsn = loaded.db.loader_dsn
    [(hole,)] = _rows(
        dsn,
        "select min(period_start) from raw.known_empty where series = 'LTC-USD 1m'"
        " and period_start > %s",
        [START + timedelta(hours=3)],
    )
    with psycopg.connect(dsn) as conn:
        conn.execute("delete from raw.known_empty where period_start = %s", [hole])
    table = GapTable(get_endpoint("coinbase", "candles"), "candles")
    with psycopg.connect(dsn) as conn:
        assert find_gaps(conn, table, LATER) == [hole.astimezone(UTC).date()]

    async def window_run() -> RunSummary:
        from ingestion.run.ingest import run_ingestion

        config = SimulatorConfig(seed=SEED, now=LATER, coinbase_no_trade_rate=RATE)
        async with run_simulator(config) as sim:
            settings = loaded.db.settings.model_copy(
                update={
                    **{f"{s}_base_url": sim.base_urls[s] for s in SOURCES},
                    "http_rate_limits": {s: 0 for s in SOURCES},
                    "candle_intervals": ("1m",),
                    "assets": ("LTC",),
                }
            )
            return await run_ingestion(
                settings,
                sources=["coinbase"],
                endpoints=["candles"],
                start=hole - timedelta(minutes=10),
                end=hole + timedelta(minutes=1),  # the window's last minute is the hole
                now=LATER,
            )

    summary = asyncio.run(window_run())
    assert summary.ok, [(e.name, e.error) for e in summary.failed]
    assert not any("asks again" in n for e in summary.endpoints for n in e.notes)
    with psycopg.connect(dsn) as conn:
        assert find_gaps(conn, table, LATER) == []
    [(recorded,)] = _rows(dsn, "select run_id from raw.known_empty where period_start = %s", [hole])
    assert recorded == summary.run_id


def test_a_hole_recorded_after_its_day_was_built_reaches_the_rollups(loaded: Loaded) -> None:
    """A minute without trades recorded as known-empty only by a later day's partition run
    (the day's last minute is empty: only the next day's page tells): that run's dbt
    rebuilds the earlier day's buckets, so they are complete (and fct_candles carries them),
    exactly as a full refresh has them."""
    dsn, marts = loaded.db.loader_dsn, loaded.db.transformer_dsn
    models = ("fct_candle_rollups", "fct_candles")
    [(series, hole, reason, run_id)] = _rows(
        dsn,
        "select series, period_start, reason, run_id from raw.known_empty"
        " where series = 'LTC-USD 1m' and period_start >= %s order by period_start limit 1",
        [NOW.replace(hour=0, minute=0, second=0)],  # a day whose candles no later run sees
    )
    day_after = hole.astimezone(UTC).replace(hour=0, minute=0, second=0) + timedelta(days=1)
    with psycopg.connect(dsn) as conn:
        # The loader stamps last_seen_at and recorded_at with the database's clock: put them
        # on the simulator's, where the next day's run comes after all of them.
        conn.execute("update raw.coinbase__candles set last_seen_at = %s", [LATER])
        conn.execute("update raw.known_empty set recorded_at = %s", [LATER])
        conn.execute(
            "delete from raw.known_empty where series = %s and period_start = %s", [series, hole]
        )
    loaded.db.dbt("run", "--full-refresh", "--select", *models)
    bucket = (
        "select is_complete from marts.fct_candle_rollups where exchange_id = 'coinbase'"
        " and asset_id = 'LTC' and interval = '1h'"
        " and open_at = date_trunc('hour', %s::timestamptz)"
    )
    assert _rows(marts, bucket, [hole]) == [(False,)]  # the hole is not known yet
    with psycopg.connect(dsn) as conn:  # the next day's run records it
        conn.execute(
            "insert into raw.known_empty (source, endpoint, series, period_start, reason,"
            " run_id, recorded_at) values ('coinbase', 'candles', %s, %s, %s, %s, %s)",
            [series, hole, reason, run_id, day_after + timedelta(minutes=3)],
        )
    window = {
        "CRIPTOPIPE_DBT_PARTITION_START": day_after.isoformat(),
        "CRIPTOPIPE_DBT_PARTITION_END": (day_after + timedelta(days=1)).isoformat(),
    }
    loaded.db.dbt("run", "--select", *models, env=window)
    assert _rows(marts, bucket, [hole]) == [(True,)]
    incremental = {m: sorted(_rows(marts, f"select * from marts.{m}")) for m in models}
    loaded.db.dbt("run", "--full-refresh", "--select", *models)
    for model in models:
        full = sorted(_rows(marts, f"select * from marts.{model}"))
        assert full == sorted(incremental[model]), model
