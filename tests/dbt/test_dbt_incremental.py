"""Incremental candle marts and the metadata snapshot under reruns and late data.

Build, then change raw the way later ingestion runs do — the open candle closes with
new values, an exchange corrects an old candle, an older range is backfilled — build
again incrementally, and require the incremental tables to equal a ``--full-refresh``
build row for row. Dagster's partitioned runs (vars ``partition_start`` /
``partition_end``) rebuild exactly their window: an old range backfilled long after its
raw rows arrived, and one day without touching the others. The snapshot must add a
version when a supply figure changes and only then.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import rawdata
from dbt_helpers import DbtDatabase
from psycopg.types.json import Jsonb

from orchestration.dbt_invocations import PARTITION_ENV

INCREMENTAL_MARTS = ("fct_candles_hourly", "fct_candles_daily")
# dim_exchanges' candle coverage: incremental like the marts, so it never rescans every candle
COVERAGE = "int_candle_coverage"
INCREMENTAL = (*INCREMENTAL_MARTS, COVERAGE)
SCHEMA = {COVERAGE: "intermediate"}  # the others are marts
T0 = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
OPEN_HOUR = T0.replace(minute=0, second=0)
LATER = T0 + timedelta(hours=2)


@pytest.fixture(scope="module")
def first_build(dbt_db: DbtDatabase) -> Iterator[DbtDatabase]:
    rawdata.load_all(dbt_db.loader_dsn, days=35, assets=("BTC", "ETH", "SOL"), now=T0)
    result = dbt_db.dbt("build")
    assert result.not_passing() == []
    yield dbt_db


def _one(dsn: str, query: str, params: Any = None) -> tuple[Any, ...]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return tuple(row)


def _finalise_open_candle(loader_dsn: str) -> Decimal:
    """The open Binance BTC hour closes: the next run sees new close/high/volume."""
    with psycopg.connect(loader_dsn) as conn:
        (record,) = conn.execute(
            "select record from raw.binance__klines "
            "where symbol = 'BTCUSDT' and interval = '1h' and open_time = %s",
            [OPEN_HOUR],
        ).fetchone() or (None,)
        assert record is not None
        final_close = Decimal(record[4]) * Decimal("1.01")
        record[4] = f"{final_close:.8f}"
        record[2] = f"{max(Decimal(record[2]), final_close):.8f}"
        record[5] = f"{Decimal(record[5]) * 3:.8f}"
        conn.execute(
            "update raw.binance__klines set record = %s, fetched_at = %s, last_seen_at = %s, "
            "run_id = 'later' where symbol = 'BTCUSDT' and interval = '1h' and open_time = %s",
            [Jsonb(record), LATER, LATER, OPEN_HOUR],
        )
    return Decimal(f"{final_close:.8f}")


def _correct_old_candle(loader_dsn: str) -> datetime:
    """Kraken republishes a ten-day-old ETH hour with a larger volume."""
    old_hour = OPEN_HOUR - timedelta(days=10)
    with psycopg.connect(loader_dsn) as conn:
        conn.execute(
            "update raw.kraken__ohlc set record = jsonb_set(record, '{6}', '\"999.00000000\"'), "
            "fetched_at = %s, last_seen_at = %s, run_id = 'later' "
            "where pair = 'XETHZUSD' and interval = '1h' and open_time = %s",
            [LATER, LATER, old_hour],
        )
    return old_hour


def _backfill_older_range(loader_dsn: str) -> tuple[datetime, int]:
    """Two days of Coinbase BTC history from before everything loaded so far."""
    start = (OPEN_HOUR - timedelta(days=60)).replace(hour=0)
    hourly = [
        rawdata.Candle(start + timedelta(hours=i), 40000 + i, 40100 + i, 39900 + i, 40050 + i, 12.5)
        for i in range(48)
    ]
    rows = [
        rawdata.RawRow(
            "coinbase__candles",
            ("BTC-USD", "1h", c.open_at),
            rawdata.candle_record("coinbase", c, "1h"),
            LATER,
        )
        for c in hourly
    ]
    rows += [
        rawdata.RawRow(
            "coinbase__candles",
            ("BTC-USD", "1d", c.open_at),
            rawdata.candle_record("coinbase", c, "1d"),
            LATER,
        )
        for c in rawdata._daily(hourly)
    ]
    rawdata.upsert(loader_dsn, rawdata.RawBatch(rows=rows))
    return start, len(hourly)


def test_incremental_build_equals_full_refresh(first_build: DbtDatabase) -> None:
    db = first_build
    before = _one(db.reader_dsn, "select count(*) from marts.fct_candles_hourly")[0]
    final_close = _finalise_open_candle(db.loader_dsn)
    corrected_hour = _correct_old_candle(db.loader_dsn)
    backfill_start, backfilled = _backfill_older_range(db.loader_dsn)

    incremental = db.dbt("build", "--select", *INCREMENTAL)
    assert incremental.not_passing() == []
    marts_sql = incremental.target_path / "{}" / "criptopipe" / "models" / "marts" / "market"
    compiled = (Path(str(marts_sql).format("compiled")) / "fct_candles_hourly.sql").read_text()
    executed = (Path(str(marts_sql).format("run")) / "fct_candles_hourly.sql").read_text()
    assert "already_loaded" in compiled and "delete from" in executed, "not incremental"

    # what a user would notice: the candle closed, the correction and the backfill arrived
    assert _one(
        db.reader_dsn,
        """
        select close_price, is_closed from marts.fct_candles_hourly
        where exchange_id = 'binance' and asset_id = 'BTC' and open_at = %s
    """,
        [OPEN_HOUR],
    ) == (final_close, True)
    assert _one(
        db.reader_dsn,
        """
        select volume from marts.fct_candles_hourly
        where exchange_id = 'kraken' and asset_id = 'ETH' and open_at = %s
    """,
        [corrected_hour],
    ) == (Decimal("999.00000000"),)
    assert _one(
        db.reader_dsn,
        """
        select count(*) from marts.fct_candles_hourly
        where exchange_id = 'coinbase' and asset_id = 'BTC' and open_at >= %s and open_at < %s
    """,
        [backfill_start, backfill_start + timedelta(days=2)],
    ) == (backfilled,)
    assert _one(db.reader_dsn, "select count(*) from marts.fct_candles_hourly")[0] == (
        before + backfilled
    )

    # the backfill widened its series' coverage (and dim_exchanges reads it from there)
    assert _one(
        db.transformer_dsn,  # the reader sees marts only
        f"select first_open_at from intermediate.{COVERAGE}"
        " where exchange_id = 'coinbase' and asset_id = 'BTC' and interval = '1h'",
    ) == (backfill_start,)
    models_run = Path(str(marts_sql).format("run")).parent.parent
    coverage_sql = (models_run / "intermediate" / f"{COVERAGE}.sql").read_text()
    assert "delete from" in coverage_sql, "coverage not incremental"

    _assert_equals_full_refresh(db)


def _copy_marts(db: DbtDatabase, marts: tuple[str, ...] = INCREMENTAL) -> None:
    """The incremental marts as they are now, into scratch.<mart>."""
    with psycopg.connect(db.transformer_dsn, autocommit=True) as conn:
        conn.execute("create schema if not exists scratch")
        for mart in marts:
            conn.execute(f"drop table if exists scratch.{mart}")
            conn.execute(
                f"create table scratch.{mart} as select * from {SCHEMA.get(mart, 'marts')}.{mart}"
            )


def _assert_same_rows(
    conn: psycopg.Connection[Any], mart: str, where: str = "true", params: Any = None
) -> None:
    """<schema>.<mart> and scratch.<mart> hold the same rows (those matching ``where``)."""
    built = f"{SCHEMA.get(mart, 'marts')}.{mart}"
    for left, right in ((built, f"scratch.{mart}"), (f"scratch.{mart}", built)):
        diff = conn.execute(
            f"select * from {left} where {where} except all "
            f"select * from {right} where {where} limit 5",
            (params or []) * 2,
        ).fetchall()
        assert diff == [], f"{mart}: rows in {left} but not in {right}: {diff}"


def _assert_equals_full_refresh(db: DbtDatabase) -> None:
    """The incremental models as built equal a --full-refresh build, row for row."""
    _copy_marts(db)
    db.dbt("build", "--full-refresh", "--select", *INCREMENTAL)
    with psycopg.connect(db.transformer_dsn) as conn:
        for mart in INCREMENTAL:
            table = f"{SCHEMA.get(mart, 'marts')}.{mart}"
            (full,) = conn.execute(f"select count(*) from {table}").fetchone() or (0,)
            assert full > 0
            _assert_same_rows(conn, mart)


def _partition_vars(start: datetime, end: datetime) -> str:
    """The --vars Dagster passes for the partitions [start, end) (orchestration.dbt_assets)."""
    return json.dumps({"partition_start": start.isoformat(), "partition_end": end.isoformat()})


def _backfill_binance_eth(loader_dsn: str, start: datetime, days: int, seen_at: datetime) -> int:
    """``days`` days of Binance ETH hourly and daily candles from ``start``, as a loader
    run at ``seen_at`` writes them. Returns the hourly candles written."""
    hourly = [
        rawdata.Candle(start + timedelta(hours=i), 2000 + i, 2010 + i, 1990 + i, 2005 + i, 7.25)
        for i in range(24 * days)
    ]
    rows = [
        rawdata.RawRow(
            "binance__klines",
            ("ETHUSDT", interval, c.open_at),
            rawdata.candle_record("binance", c, interval),
            seen_at,
        )
        for interval, candles in (("1h", hourly), ("1d", rawdata._daily(hourly)))
        for c in candles
    ]
    rawdata.upsert(loader_dsn, rawdata.RawBatch(rows=rows))
    return len(hourly)


def _set_binance_volume(
    loader_dsn: str, symbol: str, interval: str, open_at: datetime, volume: str, seen_at: datetime
) -> None:
    """Binance republishes one candle with another volume (a later loader run)."""
    with psycopg.connect(loader_dsn) as conn:
        updated = conn.execute(
            "update raw.binance__klines set record = jsonb_set(record, '{5}', %s), "
            "fetched_at = %s, last_seen_at = %s, run_id = 'later' "
            "where symbol = %s and interval = %s and open_time = %s",
            [Jsonb(volume), seen_at, seen_at, symbol, interval, open_at],
        ).rowcount
    assert updated == 1


def _mart_volume(db: DbtDatabase, mart: str, asset_id: str, open_at: datetime) -> Decimal:
    return Decimal(
        _one(
            db.reader_dsn,
            f"""
        select volume from marts.{mart}
        where exchange_id = 'binance' and asset_id = %s and open_at = %s
    """,
            [asset_id, open_at],
        )[0]
    )


def test_partition_backfill_of_an_old_range_equals_full_refresh(first_build: DbtDatabase) -> None:
    """Dagster backfills two old days: raw got them three days ago (older than the
    lookback of a plain run), the partitioned build picks exactly them up."""
    db = first_build
    db.dbt("build", "--full-refresh", "--select", *INCREMENTAL)
    start = (OPEN_HOUR - timedelta(days=90)).replace(hour=0)
    end = start + timedelta(days=2)
    backfilled = _backfill_binance_eth(db.loader_dsn, start, 2, seen_at=T0 - timedelta(days=3))
    in_range = """
        select count(*) from marts.fct_candles_hourly
        where exchange_id = 'binance' and asset_id = 'ETH' and open_at >= %s and open_at < %s
    """

    plain = db.dbt("build", "--select", *INCREMENTAL)
    assert plain.not_passing() == []
    assert _one(db.reader_dsn, in_range, [start, end]) == (0,), "seen before the lookback"

    partitioned = db.dbt("build", "--select", *INCREMENTAL, "--vars", _partition_vars(start, end))
    assert partitioned.not_passing() == []
    compiled = (
        partitioned.target_path
        / "compiled"
        / "criptopipe"
        / "models"
        / "marts"
        / "market"
        / "fct_candles_daily.sql"
    ).read_text()
    assert start.isoformat() in compiled and end.isoformat() in compiled
    assert _one(db.reader_dsn, in_range, [start, end]) == (backfilled,)
    assert _one(
        db.reader_dsn,
        """
        select count(*) from marts.fct_candles_daily
        where exchange_id = 'binance' and asset_id = 'ETH' and open_at >= %s and open_at < %s
    """,
        [start, end],
    ) == (2,)

    _assert_equals_full_refresh(db)


def test_partition_build_of_one_day_leaves_other_days_untouched(first_build: DbtDatabase) -> None:
    """Raw changes on two days; the build for one day's partition takes that day's
    change and leaves the other day (and every other row) exactly as it was."""
    db = first_build
    db.dbt("build", "--full-refresh", "--select", *INCREMENTAL_MARTS)
    _copy_marts(db)
    day = (OPEN_HOUR - timedelta(days=20)).replace(hour=0)
    other_day = day - timedelta(days=1)
    seen_at = LATER + timedelta(hours=1)
    for open_at in (day, other_day):
        _set_binance_volume(
            db.loader_dsn, "BTCUSDT", "1h", open_at + timedelta(hours=12), "777.00000000", seen_at
        )
        _set_binance_volume(db.loader_dsn, "BTCUSDT", "1d", open_at, "8888.00000000", seen_at)
    other_day_before = (
        _mart_volume(db, "fct_candles_hourly", "BTC", other_day + timedelta(hours=12)),
        _mart_volume(db, "fct_candles_daily", "BTC", other_day),
    )

    # The window as Dagster passes it, in the environment (the backfill above passes --vars):
    # a change of --vars would make dbt re-parse the project, here and in the next test.
    start, end = PARTITION_ENV
    window = {start: day.isoformat(), end: (day + timedelta(days=1)).isoformat()}
    result = db.dbt("build", "--select", *INCREMENTAL_MARTS, env=window)
    assert "Unable to do partial parsing" not in result.output
    assert result.not_passing() == []

    assert _mart_volume(db, "fct_candles_hourly", "BTC", day + timedelta(hours=12)) == (
        Decimal("777.00000000")
    )
    assert _mart_volume(db, "fct_candles_daily", "BTC", day) == Decimal("8888.00000000")
    assert (
        _mart_volume(db, "fct_candles_hourly", "BTC", other_day + timedelta(hours=12)),
        _mart_volume(db, "fct_candles_daily", "BTC", other_day),
    ) == other_day_before
    with psycopg.connect(db.transformer_dsn) as conn:
        for mart in INCREMENTAL_MARTS:
            _assert_same_rows(
                conn, mart, "not (open_at >= %s and open_at < %s)", [day, day + timedelta(days=1)]
            )
            # inside the day: the same candles, one of them with the new volume
            (changed,) = conn.execute(
                f"""
                select count(*) from (
                    select * from marts.{mart} where open_at >= %s and open_at < %s
                    except all
                    select * from scratch.{mart} where open_at >= %s and open_at < %s
                ) as changed
            """,
                [day, day + timedelta(days=1)] * 2,
            ).fetchone() or (None,)
            assert changed == 1


def test_partitioned_run_tests_only_the_rows_it_rewrote(first_build: DbtDatabase) -> None:
    """A partitioned run's generic tests on a candle mart read its window only (the
    hourly job must not scan history); a plain run's read every row."""
    db = first_build
    day = (OPEN_HOUR - timedelta(days=10)).replace(hour=0)
    inside, outside = day + timedelta(hours=6), day - timedelta(days=5)
    update = (
        "update marts.fct_candles_hourly set high_price = %s"
        " where asset_id = 'BTC' and exchange_id = 'binance' and open_at = %s"
        " returning old.high_price"
    )
    with psycopg.connect(db.transformer_dsn) as conn:
        highs = {
            at: (conn.execute(update, [-1, at]).fetchone() or (None,))[0]
            for at in (inside, outside)
        }
    assert None not in highs.values()
    select = ("--select", "fct_candles_hourly,test_name:positive_value")
    try:
        # the window as Dagster passes it (no --vars: no re-parse)
        window = (day.isoformat(), (day + timedelta(days=1)).isoformat())
        partitioned = db.dbt(
            "test", *select, env=dict(zip(PARTITION_ENV, window, strict=True)), check=False
        )
        in_window = partitioned.not_passing()  # read before the next run replaces the results
        plain = db.dbt("test", *select, check=False)
    finally:
        with psycopg.connect(db.transformer_dsn) as conn:
            for at, high in highs.items():
                conn.execute(
                    "update marts.fct_candles_hourly set high_price = %s"
                    " where asset_id = 'BTC' and exchange_id = 'binance' and open_at = %s",
                    [high, at],
                )
    assert len(in_window) == 1 and "Got 1 result," in in_window[0], in_window
    assert len(plain.not_passing()) == 1 and "Got 2 results" in plain.not_passing()[0]


def _last_analyze(dsn: str, table: str) -> datetime | None:
    return _one(
        dsn,
        "select coalesce(last_analyze, last_autoanalyze) from pg_stat_user_tables"
        " where schemaname = 'marts' and relname = %s",
        [table],
    )[0]


def test_a_mart_is_analyzed_when_its_statistics_are_stale_only(first_build: DbtDatabase) -> None:
    """Every mart was analyzed by its first build; an incremental run analyzes its table
    only when the rows changed since the last analyze pass the stale share (on a long
    history, analyzing fct_candles on every hourly run cost 2.7 s)."""
    db = first_build
    with psycopg.connect(db.transformer_dsn) as conn:
        never = conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " left join pg_stat_user_tables s on s.relid = c.oid"
            " where n.nspname = 'marts' and c.relkind = 'r'"
            " and coalesce(s.last_analyze, s.last_autoanalyze) is null"
        ).fetchall()
    assert never == []
    table = "fct_candles_hourly"
    before = _last_analyze(db.transformer_dsn, table)
    select = ("--select", table)
    db.dbt("run", *select, "--vars", "{analyze_stale_share: 1000000}")
    assert _last_analyze(db.transformer_dsn, table) == before  # not stale: left alone
    db.dbt("run", *select, "--vars", "{analyze_stale_share: -1}")
    after = _last_analyze(db.transformer_dsn, table)
    assert after is not None and before is not None and after > before


def _add_market_row(loader_dsn: str, coin_id: str, at: datetime, **changes: object) -> None:
    with psycopg.connect(loader_dsn) as conn:
        (record,) = conn.execute(
            "select record from raw.coingecko__markets where coin_id = %s "
            "order by last_updated_at desc limit 1",
            [coin_id],
        ).fetchone() or (None,)
        record.update(changes, last_updated=at.isoformat().replace("+00:00", "Z"))
        conn.execute(
            "insert into raw.coingecko__markets (coin_id, vs_currency, last_updated_at, "
            "record, fetched_at, first_seen_at, last_seen_at, run_id) "
            "values (%s, 'usd', %s, %s, %s, %s, %s, 'later')",
            [coin_id, at, Jsonb(record), at, at, at],
        )


def test_snapshot_versions_supply_changes_only(first_build: DbtDatabase) -> None:
    db = first_build
    versions = """
        select asset_id, count(*), count(*) filter (where dbt_valid_to is null)
        from snapshots.snap_asset_metadata where asset_id in ('BTC', 'ETH')
        group by asset_id order by asset_id
    """
    with psycopg.connect(db.transformer_dsn) as conn:
        assert conn.execute(versions).fetchall() == [("BTC", 1, 1), ("ETH", 1, 1)]
    at = LATER + timedelta(minutes=30)
    _add_market_row(db.loader_dsn, "bitcoin", at, circulating_supply=19_800_123)
    _add_market_row(db.loader_dsn, "ethereum", at, current_price=1234.5)  # price only
    db.dbt("snapshot")
    with psycopg.connect(db.transformer_dsn) as conn:
        assert conn.execute(versions).fetchall() == [("BTC", 2, 1), ("ETH", 1, 1)]
        (supply,) = conn.execute(
            "select circulating_supply from snapshots.snap_asset_metadata "
            "where asset_id = 'BTC' and dbt_valid_to is null"
        ).fetchone() or (None,)
    assert supply == Decimal("19800123")


# The daily spreads: incremental in the unpartitioned dbt asset, by day, re-aggregating
# the newest days and any day whose number of hours changed.
SPREADS_DAILY = "fct_cross_exchange_spreads_daily"
SPREADS = ("int_price_consensus", "fct_cross_exchange_spreads", SPREADS_DAILY)
# the tests of these models alone (not those that also read marts built from the others)
ONLY_THEIR_TESTS = "--indirect-selection=cautious"


def _spreads_day(db: DbtDatabase, asset_id: str, exchange_id: str, day: datetime) -> Any:
    with psycopg.connect(db.reader_dsn) as conn:
        return conn.execute(
            f"select hour_count, close_price, consensus_close_price_usd from marts.{SPREADS_DAILY}"
            " where asset_id = %s and exchange_id = %s and price_date = %s",
            [asset_id, exchange_id, day.date()],
        ).fetchone()


def test_spreads_daily_incremental_run_equals_full_refresh(first_build: DbtDatabase) -> None:
    """Hours that arrive late on an old day (a whole exchange's day, which moves the others'
    consensus), an old range backfilled and a recent hour's new close: an incremental run
    gives the same rows as a --full-refresh, and the singular test recomputing every row
    from the hourly mart passes."""
    db = first_build
    late_day = (OPEN_HOUR - timedelta(days=20)).replace(hour=0)
    with psycopg.connect(db.loader_dsn) as conn:
        kraken_day = conn.execute(
            "delete from raw.kraken__ohlc where pair = 'XETHZUSD' and interval = '1h'"
            " and open_time >= %s and open_time < %s returning open_time, record",
            [late_day, late_day + timedelta(days=1)],
        ).fetchall()
    assert len(kraken_day) == 24
    db.dbt("run", "--select", *SPREADS)  # the marts without the day (tested below)
    assert _spreads_day(db, "ETH", "kraken", late_day) is None
    binance_before = _spreads_day(db, "ETH", "binance", late_day)

    rawdata.upsert(  # the day's hours arrive late
        db.loader_dsn,
        rawdata.RawBatch(
            rows=[
                rawdata.RawRow("kraken__ohlc", ("XETHZUSD", "1h", at), record, LATER)
                for at, record in kraken_day
            ]
        ),
    )
    old_start = (OPEN_HOUR - timedelta(days=120)).replace(hour=0)
    _backfill_binance_eth(db.loader_dsn, old_start, 2, seen_at=LATER)
    # the newest closed hour (OPEN_HOUR once an earlier test closed it): its day's close
    (recent,) = _one(
        db.reader_dsn,
        "select max(open_at) from marts.fct_cross_exchange_spreads"
        " where asset_id = 'BTC' and exchange_id = 'binance'",
    )
    with psycopg.connect(db.loader_dsn) as conn:
        (close,) = conn.execute(
            "update raw.binance__klines set record = jsonb_set(record, '{4}',"
            " to_jsonb(((record->>4)::numeric * 1.02)::text)), last_seen_at = %s"
            " where symbol = 'BTCUSDT' and interval = '1h' and open_time = %s"
            " returning (record->>4)::numeric",
            [LATER, recent],
        ).fetchone() or (None,)
    assert close is not None

    incremental = db.dbt("build", "--select", *SPREADS, ONLY_THEIR_TESTS)
    assert incremental.not_passing() == []
    compiled, executed = (
        next(incremental.target_path.joinpath(step).rglob(f"{SPREADS_DAILY}.sql")).read_text()
        for step in ("compiled", "run")
    )
    assert "changed_days" in compiled and "delete from" in executed, "not incremental"
    assert _spreads_day(db, "ETH", "kraken", late_day)[0] == 24
    assert _spreads_day(db, "ETH", "binance", late_day) != binance_before  # its consensus moved
    assert _spreads_day(db, "ETH", "binance", old_start)[0] == 24
    assert _spreads_day(db, "BTC", "binance", recent)[1] == close  # within the lookback

    _copy_marts(db, (SPREADS_DAILY,))
    db.dbt("run", "--full-refresh", "--select", SPREADS_DAILY)
    with psycopg.connect(db.transformer_dsn) as conn:
        _assert_same_rows(conn, SPREADS_DAILY)
