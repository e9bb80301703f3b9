"""End to end: simulator → ``run_ingestion`` → ``dbt build`` on what ingestion loaded.

The hand-made raw data of the other dbt tests is written to the contract; this test
checks the contract is the one ingestion really writes: the same build passes on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import simulated
from dbt_helpers import DbtDatabase, DbtResult

from ingestion.raw_tables import RAW_TABLES

ASSETS = ("BTC", "ETH", "SOL")


@pytest.fixture(scope="module")
def pipeline_build(dbt_db: DbtDatabase) -> Iterator[DbtResult]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    summary = simulated.ingest(dbt_db, days=10, assets=ASSETS, now=now)
    assert not summary.failed, summary.failed
    try:
        yield dbt_db.dbt(
            "build",
            "--vars",
            f"{{fx_calendar_end_date: '{now.date()}', current_date_utc: '{now.date()}'}}",
        )
    finally:
        simulated.drop_lake(dbt_db)


def test_build_passes_on_ingested_data(pipeline_build: DbtResult) -> None:
    assert pipeline_build.not_passing() == []


def test_marts_hold_every_exchange_and_source(
    dbt_db: DbtDatabase, pipeline_build: DbtResult
) -> None:
    with psycopg.connect(dbt_db.reader_dsn) as conn:
        exchanges: dict[str, int] = dict(
            conn.execute("""
            select exchange_id, count(distinct asset_id) from marts.fct_candles_hourly
            group by exchange_id
        """).fetchall()
        )
        health = conn.execute("""
            select source_name, endpoint_name, last_run_status, row_count
            from marts.fct_pipeline_health
        """).fetchall()
        [(premium_rows, mean_spread)] = conn.execute("""
            select (select count(*) from marts.fct_brazil_premium),
                   (select avg(spread_bps) from marts.fct_cross_exchange_spreads)
        """).fetchall()
    assert exchanges == {"binance": 3, "kraken": 3, "coinbase": 3, "mercadobitcoin": 3}
    assert len(health) == len(RAW_TABLES)  # a row per raw table, the listings included
    assert all(status == "success" and rows > 0 for _, _, status, rows in health), health
    assert premium_rows > 0
    assert 0 < mean_spread < 150  # the simulated exchanges agree within a few bps


def test_market_cap_history_has_a_row_per_day_and_asset(
    dbt_db: DbtDatabase, pipeline_build: DbtResult
) -> None:
    # Ingestion keeps the intraday point of the fetch next to the 00:00 points: a closed
    # day must show its 00:00 point, today the newest one.
    with psycopg.connect(dbt_db.reader_dsn) as conn:
        rows = conn.execute("""
            select price_date, asset_id, observed_at, is_closed, market_cap_usd,
                   total_market_cap_usd, asset_count
            from marts.fct_market_cap_daily order by price_date, asset_id
        """).fetchall()
    with psycopg.connect(dbt_db.transformer_dsn) as conn:
        [(newest_point,)] = conn.execute(
            "select max(observed_at) from staging.stg_coingecko__market_chart_points"
        ).fetchall()
    days = sorted({r[0] for r in rows})
    assert len(days) >= 10 and {r[1] for r in rows} == set(ASSETS)
    assert len(rows) == len(days) * len(ASSETS)
    for price_date, _, observed_at, is_closed, _, _, _ in rows:
        if price_date < days[-1]:
            assert is_closed and observed_at == datetime.combine(
                price_date, datetime.min.time(), UTC
            )
        else:
            assert not is_closed and observed_at == newest_point
    by_day: dict[object, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_day.setdefault(row[0], []).append(row)
    for day_rows in by_day.values():
        assert {r[5] for r in day_rows} == {sum(r[4] for r in day_rows)}
        assert {r[6] for r in day_rows} == {len(ASSETS)}
