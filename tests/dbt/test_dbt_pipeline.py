"""End to end: simulator → ``run_ingestion`` → ``dbt build`` on what ingestion loaded.

The hand-made raw data of the other dbt tests is written to the contract; this test
checks the contract is the one ingestion really writes: the same build passes on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
import simulated
from dbt_helpers import DbtDatabase, DbtResult

ASSETS = ("BTC", "ETH", "SOL")


@pytest.fixture(scope="module")
def pipeline_build(dbt_db: DbtDatabase) -> Iterator[DbtResult]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    summary = simulated.ingest(dbt_db, days=10, assets=ASSETS, now=now)
    assert not summary.failed, summary.failed
    try:
        yield dbt_db.dbt("build", "--vars", f"{{fx_calendar_end_date: '{now.date()}'}}")
    finally:
        simulated.drop_lake(dbt_db)


def test_build_passes_on_ingested_data(pipeline_build: DbtResult) -> None:
    assert pipeline_build.not_passing() == []


def test_marts_hold_every_exchange_and_source(dbt_db: DbtDatabase,
                                              pipeline_build: DbtResult) -> None:
    with psycopg.connect(dbt_db.reader_dsn) as conn:
        exchanges: dict[str, int] = dict(conn.execute("""
            select exchange_id, count(distinct asset_id) from marts.fct_candles_hourly
            group by exchange_id
        """).fetchall())
        health = conn.execute("""
            select source_name, endpoint_name, last_run_status, row_count
            from marts.fct_pipeline_health
        """).fetchall()
        [(premium_rows, mean_spread)] = conn.execute("""
            select (select count(*) from marts.fct_brazil_premium),
                   (select avg(spread_bps) from marts.fct_cross_exchange_spreads)
        """).fetchall()
    assert exchanges == {"binance": 3, "kraken": 3, "coinbase": 3, "mercadobitcoin": 3}
    assert len(health) == 12
    assert all(status == "success" and rows > 0 for _, _, status, rows in health), health
    assert premium_rows > 0
    assert 0 < mean_spread < 150  # the simulated exchanges agree within a few bps
