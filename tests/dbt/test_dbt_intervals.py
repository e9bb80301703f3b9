"""Every candle interval in the marts: the exchanges' own candles, rollups where one lacks
an interval, and the check that reconciles a rollup with the exchange's own candle."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from dbt_helpers import DbtDatabase

from ingestion.settings import SOURCES

NOW = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
INTERVALS = ("1m", "5m", "1h", "4h", "1d")
SELECT = (
    "+fct_candles",
    "+fct_candle_rollups",
    "+dim_assets",
    "+dim_exchanges",
    "+fct_price_consensus",  # hourly and daily only, whatever else is loaded
    "assert_candle_rollups_match_exchange_candles",
)


async def _ingest(db: DbtDatabase) -> Any:
    from ingestion.run.ingest import run_ingestion
    from ingestion.simulator import SimulatorConfig, run_simulator

    async with run_simulator(SimulatorConfig(seed=7, now=NOW)) as sim:
        settings = db.settings.model_copy(
            update={
                **{f"{s}_base_url": sim.base_urls[s] for s in SOURCES},
                "http_rate_limits": {s: 0 for s in SOURCES},
                "candle_intervals": INTERVALS,
                "assets": ("BTC",),
            }
        )
        return await run_ingestion(
            settings,
            sources=["binance", "coinbase", "kraken", "mercadobitcoin"],
            endpoints=["klines", "candles", "ohlc"],
            start=NOW - timedelta(hours=30),
            end=NOW,
            now=NOW,
        )


@pytest.fixture(scope="module")
def built(dbt_db: DbtDatabase) -> Iterator[DbtDatabase]:
    summary = asyncio.run(_ingest(dbt_db))
    assert summary.ok, [(e.name, e.error) for e in summary.failed]
    dbt_db.dbt("build", "--select", *SELECT, "--indirect-selection", "cautious")
    yield dbt_db


def _rows(db: DbtDatabase, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(db.transformer_dsn) as conn:
        return conn.execute(query).fetchall()


def test_every_interval_comes_from_the_exchange_or_a_rollup(built: DbtDatabase) -> None:
    kinds = _rows(
        built,
        "select exchange_id, interval, bool_and(is_rollup), bool_or(is_rollup), "
        "min(source_interval) from marts.fct_candles group by 1, 2",
    )
    by_key = {
        (e, i): (all_rollup, any_rollup, source) for e, i, all_rollup, any_rollup, source in kinds
    }
    # The exchanges' own candles wherever they serve the interval ...
    for exchange in ("binance", "kraken", "coinbase", "mercadobitcoin"):
        assert by_key[(exchange, "1m")] == (False, False, "1m"), exchange
        assert by_key[(exchange, "1h")][:2] == (False, False), exchange
    assert by_key[("binance", "4h")][:2] == (False, False)
    # ... and rollups of the finest loaded (1m) where they do not: no 4h on Coinbase,
    # no 5m or 4h on Mercado Bitcoin.
    assert by_key[("coinbase", "4h")] == (True, True, "1m")
    assert by_key[("mercadobitcoin", "5m")] == (True, True, "1m")
    assert by_key[("mercadobitcoin", "4h")] == (True, True, "1m")
    [(closed_4h, minutes)] = _rows(
        built,
        "select count(*) filter (where is_closed), min(source_candles) filter (where is_closed)"
        " from marts.fct_candles where exchange_id = 'coinbase' and interval = '4h'",
    )
    assert closed_4h >= 6 and minutes == 240


def test_rollups_reconcile_with_the_exchanges_own_candles(built: DbtDatabase) -> None:
    [(compared,)] = _rows(
        built,
        "select count(*) from marts.fct_candle_rollups"
        " where has_native and is_complete and is_closed and is_native_closed",
    )
    assert compared > 50  # hours, 5m and 4h of Binance and Kraken, days: all within tolerance
    # A candle the exchange changed afterwards (high 2 % up) no longer matches its minutes.
    with psycopg.connect(built.loader_dsn) as conn:
        conn.execute(
            "update raw.binance__klines set record = jsonb_set(record, '{2}',"
            " to_jsonb(((record ->> 2)::numeric * 1.02)::text)), last_seen_at = %s"
            " where interval = '1h' and open_time = %s",
            [NOW, NOW.replace(minute=0) - timedelta(hours=5)],
        )
    result = built.dbt(
        "build",
        "--select",
        "fct_candle_rollups",
        "assert_candle_rollups_match_exchange_candles",
        "--indirect-selection",
        "cautious",
        check=False,
    )
    failing = [f for f in result.not_passing() if "assert_candle_rollups_match" in f]
    assert len(failing) == 1 and "Got 1 result" in failing[0], result.not_passing()
