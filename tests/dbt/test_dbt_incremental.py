"""Incremental candle marts and the metadata snapshot under reruns and late data.

Build, then change raw the way later ingestion runs do — the open candle closes with
new values, an exchange corrects an old candle, an older range is backfilled — build
again incrementally, and require the incremental tables to equal a ``--full-refresh``
build row for row. The snapshot must add a version when a supply figure changes and
only then.
"""

from __future__ import annotations

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

INCREMENTAL_MARTS = ("fct_candles_hourly", "fct_candles_daily")
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
            "where symbol = 'BTCUSDT' and interval = '1h' and open_time = %s", [OPEN_HOUR]
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
        rawdata.Candle(start + timedelta(hours=i), 40000 + i, 40100 + i, 39900 + i,
                       40050 + i, 12.5)
        for i in range(48)
    ]
    rows = [
        rawdata.RawRow("coinbase__candles", ("BTC-USD", "1h", c.open_at),
                       rawdata.candle_record("coinbase", c, "1h"), LATER)
        for c in hourly
    ]
    rows += [
        rawdata.RawRow("coinbase__candles", ("BTC-USD", "1d", c.open_at),
                       rawdata.candle_record("coinbase", c, "1d"), LATER)
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

    incremental = db.dbt("build", "--select", *INCREMENTAL_MARTS)
    assert incremental.not_passing() == []
    marts_sql = incremental.target_path / "{}" / "criptopipe" / "models" / "marts"
    compiled = (Path(str(marts_sql).format("compiled")) / "fct_candles_hourly.sql").read_text()
    executed = (Path(str(marts_sql).format("run")) / "fct_candles_hourly.sql").read_text()
    assert "already_loaded" in compiled and "delete from" in executed, "not incremental"

    # what a user would notice: the candle closed, the correction and the backfill arrived
    assert _one(db.reader_dsn, """
        select close_price, is_closed from marts.fct_candles_hourly
        where exchange_id = 'binance' and asset_id = 'BTC' and open_at = %s
    """, [OPEN_HOUR]) == (final_close, True)
    assert _one(db.reader_dsn, """
        select volume from marts.fct_candles_hourly
        where exchange_id = 'kraken' and asset_id = 'ETH' and open_at = %s
    """, [corrected_hour]) == (Decimal("999.00000000"),)
    assert _one(db.reader_dsn, """
        select count(*) from marts.fct_candles_hourly
        where exchange_id = 'coinbase' and asset_id = 'BTC' and open_at >= %s and open_at < %s
    """, [backfill_start, backfill_start + timedelta(days=2)]) == (backfilled,)
    assert _one(db.reader_dsn, "select count(*) from marts.fct_candles_hourly")[0] == (
        before + backfilled
    )

    with psycopg.connect(db.transformer_dsn, autocommit=True) as conn:
        conn.execute("create schema if not exists scratch")
        for mart in INCREMENTAL_MARTS:
            conn.execute(f"drop table if exists scratch.{mart}")
            conn.execute(f"create table scratch.{mart} as select * from marts.{mart}")

    db.dbt("build", "--full-refresh", "--select", *INCREMENTAL_MARTS)

    with psycopg.connect(db.transformer_dsn) as conn:
        for mart in INCREMENTAL_MARTS:
            (full,) = conn.execute(f"select count(*) from marts.{mart}").fetchone() or (0,)
            assert full > 0
            for left, right in ((f"marts.{mart}", f"scratch.{mart}"),
                                (f"scratch.{mart}", f"marts.{mart}")):
                diff = conn.execute(
                    f"select * from {left} except all select * from {right} limit 5"
                ).fetchall()
                assert diff == [], f"{mart}: rows in {left} but not in {right}: {diff}"


def _add_market_row(loader_dsn: str, coin_id: str, at: datetime, **changes: object) -> None:
    with psycopg.connect(loader_dsn) as conn:
        (record,) = conn.execute(
            "select record from raw.coingecko__markets where coin_id = %s "
            "order by last_updated_at desc limit 1", [coin_id]
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
