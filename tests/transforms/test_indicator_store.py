"""marts.fct_technical_indicators on a real PostgreSQL: contract, incremental update, roles.

The candle marts are created here with the columns the indicators read (the dbt build that
makes them for real is exercised by the orchestration and dashboard tests), in a database
of the module's own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import psycopg
import pytest

from ingestion.services import Endpoints, postgres
from ingestion.settings import Settings
from orchestration import indicator_store, indicators

START = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2024, 6, 1, tzinfo=UTC)
INDICATOR_COLUMNS = list(indicators.INDICATOR_COLUMNS)


@pytest.fixture(scope="module")
def database(endpoints: Endpoints, settings: Settings) -> Iterator[str]:
    name = f"criptopipe_indicators_{os.getpid()}"
    postgres.drop_database(endpoints.postgres_admin_dsn, name)
    postgres.bootstrap(endpoints.postgres_admin_dsn, name, settings)
    yield name
    postgres.drop_database(endpoints.postgres_admin_dsn, name)


def _dsn(endpoints: Endpoints, settings: Settings, database: str, role: str) -> str:
    return Endpoints(endpoints.postgres_admin_dsn, endpoints.mongo_uri, database).role_dsn(
        role, settings
    )


@pytest.fixture
def transformer(
    endpoints: Endpoints, settings: Settings, database: str
) -> Iterator[psycopg.Connection]:
    with psycopg.connect(
        _dsn(endpoints, settings, database, "transformer"), autocommit=True
    ) as conn:
        conn.execute("drop table if exists marts.fct_technical_indicators")
        for mart, interval in (("fct_candles_hourly", "1h"), ("fct_candles_daily", "1d")):
            conn.execute(f"drop table if exists marts.{mart}")
            conn.execute(
                f"""
                create table marts.{mart} (
                    exchange_id text not null, asset_id text not null,
                    quote_currency text not null, interval text not null
                        check (interval = '{interval}'),
                    open_at timestamptz not null, close_price numeric not null,
                    is_closed boolean not null,
                    primary key (exchange_id, asset_id, open_at))
                """
            )
        yield conn


def _closes(n: int, seed: int) -> list[Decimal]:
    rng = np.random.default_rng(seed)
    path = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return [Decimal(f"{p:.2f}") for p in path]


def _insert(conn: psycopg.Connection, mart: str, exchange: str, asset: str, closes: list[Decimal],
            *, first: int = 0, step: timedelta = timedelta(hours=1), quote: str = "USD",
            open_last: bool = False) -> None:  # fmt: skip
    interval = "1h" if mart == "fct_candles_hourly" else "1d"
    with conn.cursor() as cur:
        cur.executemany(
            f"""
            insert into marts.{mart} values (%s, %s, %s, %s, %s, %s, %s)
            on conflict (exchange_id, asset_id, open_at)
            do update set close_price = excluded.close_price, is_closed = excluded.is_closed
            """,
            [
                (exchange, asset, quote, interval, START + (first + i) * step, close,
                 not (open_last and i == len(closes) - 1))
                for i, close in enumerate(closes)
            ],
        )  # fmt: skip


def _stored(conn: psycopg.Connection) -> pd.DataFrame:
    cursor = conn.execute(
        "select * from marts.fct_technical_indicators order by exchange_id, asset_id, "
        "interval, open_at"
    )
    assert cursor.description is not None
    frame = pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])
    return frame.drop(columns=["computed_at"])


def test_first_update_creates_the_contracted_table_readable_by_the_reader(
    transformer: psycopg.Connection, endpoints: Endpoints, settings: Settings, database: str
) -> None:
    closes = _closes(60, seed=1)
    _insert(transformer, "fct_candles_hourly", "binance", "BTC", closes, quote="USDT")
    _insert(transformer, "fct_candles_daily", "kraken", "BTC", closes[:30], step=timedelta(days=1))
    summary = indicator_store.update(transformer, NOW)
    assert (summary.series, summary.series_updated, summary.rows_written) == (2, 2, 90)
    assert summary.series_recomputed_in_full == 2
    stored = _stored(transformer)
    hourly = stored[stored["interval"] == "1h"].reset_index(drop=True)
    expected = indicators.compute(pd.Series([float(c) for c in closes]), "1h")
    pd.testing.assert_frame_equal(
        hourly[INDICATOR_COLUMNS].astype(float), expected, check_exact=True
    )
    assert set(hourly["quote_currency"]) == {"USDT"}
    assert hourly["close_price"].tolist() == closes

    primary_key = transformer.execute(
        """
        select array_agg(a.attname order by k.ord)
        from pg_index i
        cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord)
        join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
        where i.indrelid = 'marts.fct_technical_indicators'::regclass and i.indisprimary
        """
    ).fetchone()
    assert primary_key is not None
    assert primary_key[0] == list(indicator_store.KEY)
    with pytest.raises(psycopg.errors.CheckViolation):
        transformer.execute(
            "update marts.fct_technical_indicators set rsi_14 = 101 where rsi_14 is not null"
        )
    with psycopg.connect(_dsn(endpoints, settings, database, "reader")) as reader:
        count = reader.execute("select count(*) from marts.fct_technical_indicators").fetchone()
        assert count is not None and count[0] == 90
        may_write = reader.execute(
            "select has_table_privilege('marts.fct_technical_indicators', 'INSERT, DELETE')"
        ).fetchone()
        assert may_write == (False,)
    # nothing changed: nothing is recomputed
    again = indicator_store.update(transformer, NOW)
    assert (again.series_updated, again.rows_written) == (0, 0)


def test_incremental_update_equals_a_full_recompute(transformer: psycopg.Connection) -> None:
    btc, eth = _closes(300, seed=2), _closes(300, seed=3)
    _insert(transformer, "fct_candles_hourly", "binance", "BTC", btc[:200], open_last=True)
    _insert(transformer, "fct_candles_hourly", "coinbase", "ETH", eth[:250])
    _insert(transformer, "fct_candles_hourly", "kraken", "ETH", eth[:10])  # warming up
    indicator_store.update(transformer, NOW)

    # BTC: the open candle closes at another price and 100 new candles arrive; ETH on
    # coinbase: unchanged; ETH on kraken: still inside RSI's warm-up, 40 more candles.
    btc[199] = btc[199] + Decimal("1.5")
    _insert(transformer, "fct_candles_hourly", "binance", "BTC", btc[199:], first=199)
    _insert(transformer, "fct_candles_hourly", "kraken", "ETH", eth[10:50], first=10)
    summary = indicator_store.update(transformer, NOW)
    assert sorted(summary.updated) == ["binance/BTC/1h", "kraken/ETH/1h"]
    assert summary.rows_written == 101 + 50  # BTC from the changed candle; kraken in full
    assert summary.series_recomputed_in_full == 1
    incremental = _stored(transformer)

    full = indicator_store.update(transformer, NOW, full=True)
    assert full.rows_written == 300 + 250 + 50
    pd.testing.assert_frame_equal(_stored(transformer), incremental, check_exact=True)
    assert indicator_store.differences(transformer) == 0


def test_a_backfilled_or_vanished_candle_recomputes_from_there(
    transformer: psycopg.Connection,
) -> None:
    closes = _closes(80, seed=4)
    day = timedelta(days=1)
    _insert(transformer, "fct_candles_daily", "kraken", "SOL", closes[:40], step=day)
    _insert(transformer, "fct_candles_daily", "kraken", "SOL", closes[41:], first=41, step=day)
    indicator_store.update(transformer, NOW)
    # day 40 is backfilled: days 40 … 79 are recomputed, continued from day 39's state
    _insert(transformer, "fct_candles_daily", "kraken", "SOL", [closes[40]], first=40, step=day)
    summary = indicator_store.update(transformer, NOW)
    assert (summary.rows_written, summary.rows_total) == (40, 80)
    assert summary.series_recomputed_in_full == 0
    expected = indicators.compute(pd.Series([float(c) for c in closes]), "1d")
    got = _stored(transformer)[INDICATOR_COLUMNS].astype(float)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    # a candle that disappears from the mart takes its row and the ones after it along
    transformer.execute(
        "delete from marts.fct_candles_daily where open_at = %s", (START + 70 * day,)
    )
    summary = indicator_store.update(transformer, NOW)
    assert (summary.rows_written, summary.rows_total) == (9, 79)
    assert indicator_store.differences(transformer) == 0


def test_a_table_that_breaks_the_contract_is_an_error_not_altered(
    transformer: psycopg.Connection,
) -> None:
    indicator_store.ensure_table(transformer)
    transformer.execute("alter table marts.fct_technical_indicators drop column drawdown")
    transformer.execute("alter table marts.fct_technical_indicators add column extra int")
    with pytest.raises(indicator_store.ContractError, match=r"drawdown.*extra"):
        indicator_store.update(transformer, NOW)
