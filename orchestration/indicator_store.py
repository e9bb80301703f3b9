"""``marts.fct_technical_indicators``: its contract and its incremental update.

The table is written by the ``transformer`` role (the one that owns the marts), from the
candle marts ``fct_candles_hourly`` and ``fct_candles_daily``. One row per exchange, asset,
interval and candle.

**Contract.** The table is created from :data:`COLUMNS` with its primary key, NOT NULLs and
CHECK constraints (RSI within 0-100, drawdown within -1 to 0, bands ordered, variance not
negative). An existing table whose columns or types differ from the contract is an error
that names the difference; nothing is altered behind the user's back.

**Incremental.** Per series, the first candle where the mart and the stored rows disagree
(a new candle, a close that changed because an open candle closed or a range was
backfilled, a candle that vanished) is found in SQL. Rows from there on are recomputed,
continuing the recursions from the stored state of the row before it (see
``orchestration.indicators``), with the 19 closes before it for Bollinger. A series whose
last good row is still warming up RSI is recomputed from its start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, LiteralString

import pandas as pd
import psycopg
from psycopg import sql

from ingestion.errors import IngestionError
from orchestration import indicators

logger = logging.getLogger(__name__)

SCHEMA = "marts"
TABLE = "fct_technical_indicators"
QUALIFIED = f"{SCHEMA}.{TABLE}"
KEY = ("exchange_id", "asset_id", "interval", "open_at")
CANDLE_MARTS = {"1h": "fct_candles_hourly", "1d": "fct_candles_daily"}


@dataclass(frozen=True)
class Column:
    """One column of the indicators table's contract.

    Attributes:
        name: the column's name.
        data_type: its type as ``information_schema.columns.data_type`` spells it.
        description: what it holds (shown in the asset's metadata).
        not_null: whether the column is declared ``not null``.
    """

    name: str
    data_type: str  # as information_schema.columns.data_type spells it
    description: str
    not_null: bool = False


_FLOAT = "double precision"
COLUMNS: tuple[Column, ...] = (
    Column("exchange_id", "text", "Exchange the candle is from.", True),
    Column("asset_id", "text", "Asset traded.", True),
    Column("interval", "text", "Candle interval: 1h or 1d.", True),
    Column("open_at", "timestamp with time zone", "When the candle opens (UTC).", True),
    Column("quote_currency", "text", "Currency of the prices (USD, USDT, BRL).", True),
    Column("close_price", "numeric", "The candle's close, as in the candle mart.", True),
    Column("is_closed", "boolean", "Whether the candle was final when fetched.", True),
    Column("log_return", _FLOAT, "ln(close / previous close); null on the first candle."),
    Column("rsi_avg_gain", _FLOAT, "Wilder's average gain (14); null while warming up."),
    Column("rsi_avg_loss", _FLOAT, "Wilder's average loss (14); null while warming up."),
    Column("rsi_14", _FLOAT, "Wilder's RSI(14), 0-100; null for the first 14 candles."),
    Column("ema_12", _FLOAT, "EMA(12) of the close, seeded with the first close.", True),
    Column("ema_26", _FLOAT, "EMA(26) of the close, seeded with the first close.", True),
    Column("macd", _FLOAT, "MACD line: EMA(12) - EMA(26).", True),
    Column("macd_signal", _FLOAT, "Signal line: EMA(9) of the MACD line.", True),
    Column("macd_histogram", _FLOAT, "MACD - signal.", True),
    Column("ewma_variance", _FLOAT, "RiskMetrics EWMA variance of log returns (lambda 0.94)."),
    Column("ewma_volatility", _FLOAT, "sqrt(ewma_variance): per-candle volatility."),
    Column("ewma_volatility_annualized", _FLOAT, "EWMA volatility over 8760 h or 365 days."),
    Column("bollinger_middle", _FLOAT, "Mean of the last 20 closes; null before 20."),
    Column("bollinger_upper", _FLOAT, "Middle + 2 population standard deviations."),
    Column("bollinger_lower", _FLOAT, "Middle - 2 population standard deviations."),
    Column("running_peak_close", _FLOAT, "Highest close so far in the series.", True),
    Column("drawdown", _FLOAT, "close / running peak - 1 (0 at a new high).", True),
    Column("computed_at", "timestamp with time zone", "When the row was computed (UTC).", True),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)

_DDL: LiteralString = """
create table if not exists marts.fct_technical_indicators (
    exchange_id text not null,
    asset_id text not null,
    interval text not null check (interval in ('1h', '1d')),
    open_at timestamp with time zone not null,
    quote_currency text not null,
    close_price numeric not null check (close_price > 0),
    is_closed boolean not null,
    log_return double precision,
    rsi_avg_gain double precision check (rsi_avg_gain >= 0),
    rsi_avg_loss double precision check (rsi_avg_loss >= 0),
    rsi_14 double precision check (rsi_14 between 0 and 100),
    ema_12 double precision not null,
    ema_26 double precision not null,
    macd double precision not null,
    macd_signal double precision not null,
    macd_histogram double precision not null,
    ewma_variance double precision check (ewma_variance >= 0),
    ewma_volatility double precision check (ewma_volatility >= 0),
    ewma_volatility_annualized double precision check (ewma_volatility_annualized >= 0),
    bollinger_middle double precision,
    bollinger_upper double precision,
    bollinger_lower double precision,
    running_peak_close double precision not null check (running_peak_close > 0),
    drawdown double precision not null check (drawdown between -1 and 0),
    computed_at timestamp with time zone not null,
    constraint fct_technical_indicators_pkey
        primary key (exchange_id, asset_id, interval, open_at),
    constraint fct_technical_indicators_bands_ordered
        check (bollinger_lower <= bollinger_middle and bollinger_middle <= bollinger_upper)
)
"""


class ContractError(IngestionError, RuntimeError):
    """The table exists with columns or types other than the contract's."""


@dataclass
class UpdateSummary:
    """What one update of the indicators table did.

    Attributes:
        series: series in the candle marts.
        series_updated: series whose rows were rewritten.
        series_recomputed_in_full: of those, series recomputed from their first candle.
        rows_written: rows inserted or replaced.
        rows_total: rows in the table afterwards.
        updated: the updated series, as ``exchange/asset/interval``.
    """

    series: int = 0  # series in the candle marts
    series_updated: int = 0
    series_recomputed_in_full: int = 0
    rows_written: int = 0
    rows_total: int = 0
    updated: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- contract
def ensure_table(conn: psycopg.Connection[Any]) -> None:
    """Create the table (with its comments) if missing; check an existing one's columns."""
    exists = conn.execute("select to_regclass(%s)", (QUALIFIED,)).fetchone()
    if exists is None or exists[0] is None:
        with conn.transaction():
            conn.execute(_DDL)
            conn.execute(
                sql.SQL("comment on table {} is {}").format(
                    sql.Identifier(SCHEMA, TABLE),
                    sql.Literal(
                        "Technical indicators per candle (pandas, orchestration/indicators.py)."
                    ),
                )
            )
            for column in COLUMNS:
                conn.execute(
                    sql.SQL("comment on column {} is {}").format(
                        sql.Identifier(SCHEMA, TABLE, column.name), sql.Literal(column.description)
                    )
                )
        return
    check_contract(conn)


def check_contract(conn: psycopg.Connection[Any]) -> None:
    """Check the table's columns against :data:`COLUMNS` (names, types, not null).

    Raises:
        ContractError: a column differs, is missing or is not in the contract.
    """
    rows = conn.execute(
        """
        select column_name, data_type, is_nullable
        from information_schema.columns
        where table_schema = %s and table_name = %s
        order by ordinal_position
        """,
        (SCHEMA, TABLE),
    ).fetchall()
    found = {name: (data_type, nullable == "NO") for name, data_type, nullable in rows}
    wanted = {c.name: (c.data_type, c.not_null) for c in COLUMNS}
    problems = [
        f"{name}: expected {want[0]}{' not null' if want[1] else ''}, found "
        + (f"{found[name][0]}{' not null' if found[name][1] else ''}" if name in found else "none")
        for name, want in wanted.items()
        if found.get(name) != want
    ]
    problems += [f"{name}: not in the contract" for name in found if name not in wanted]
    if problems:
        raise ContractError(
            f"{QUALIFIED} does not match its contract ({'; '.join(problems)}). Drop the "
            "table to have it rebuilt from the candle marts."
        )


# --------------------------------------------------------------------------- update
def _candle_sources(conn: psycopg.Connection[Any]) -> list[str]:
    present = []
    for interval, mart in CANDLE_MARTS.items():
        row = conn.execute("select to_regclass(%s)", (f"{SCHEMA}.{mart}",)).fetchone()
        if row is not None and row[0] is not None:
            present.append(interval)
    return present


def _candles_union(intervals: Iterable[str]) -> sql.Composable:
    parts = [
        sql.SQL(
            "select exchange_id, asset_id, interval, open_at, quote_currency, close_price, "
            "is_closed from {} where interval = {}"
        ).format(sql.Identifier(SCHEMA, CANDLE_MARTS[i]), sql.Literal(i))
        for i in intervals
    ]
    return sql.SQL(" union all ").join(parts)


def stale_series(
    conn: psycopg.Connection[Any], intervals: Iterable[str]
) -> tuple[int, dict[tuple[str, str, str], datetime]]:
    """The number of series in the candle marts, and where each stale series must restart.

    For every series whose stored rows differ from the marts, the open time of the first
    differing candle.
    """
    candles = _candles_union(intervals)
    count = conn.execute(
        sql.SQL(
            "select count(*) from (select distinct exchange_id, asset_id, interval "
            "from ({}) as c) as s"
        ).format(candles)
    ).fetchone()
    query = sql.SQL(
        """
        with candles as ({candles})
        select exchange_id, asset_id, interval, min(open_at)
        from candles as c
        full join marts.fct_technical_indicators as i
            using (exchange_id, asset_id, interval, open_at)
        where c.close_price is null or i.close_price is null
           or c.close_price <> i.close_price
           or c.is_closed <> i.is_closed or c.quote_currency <> i.quote_currency
        group by exchange_id, asset_id, interval
        order by exchange_id, asset_id, interval
        """
    ).format(candles=candles)
    stale = {(r[0], r[1], r[2]): r[3] for r in conn.execute(query).fetchall()}
    return (int(count[0]) if count else 0), stale


def _state(
    conn: psycopg.Connection[Any], key: tuple[str, str, str], before: datetime
) -> indicators.State | None:
    row = conn.execute(
        """
        select close_price::float8, rsi_avg_gain, rsi_avg_loss, ema_12, ema_26, macd_signal,
               ewma_variance, running_peak_close
        from marts.fct_technical_indicators
        where exchange_id = %s and asset_id = %s and interval = %s and open_at < %s
        order by open_at desc
        limit 1
        """,
        (*key, before),
    ).fetchone()
    return indicators.State(*row) if row else None


def _read_candles(
    conn: psycopg.Connection[Any], key: tuple[str, str, str], since: datetime | None
) -> pd.DataFrame:
    mart = sql.Identifier(SCHEMA, CANDLE_MARTS[key[2]])
    query = sql.SQL(
        """
        select open_at, quote_currency, close_price, close_price::float8 as close,
               is_closed
        from {mart}
        where exchange_id = %s and asset_id = %s and interval = %s
          and (%s::timestamptz is null or open_at >= %s::timestamptz)
        order by open_at
        """
    ).format(mart=mart)
    cursor = conn.execute(query, (*key, since, since))
    columns = [c.name for c in cursor.description or ()]
    return pd.DataFrame(cursor.fetchall(), columns=columns)


def _history(
    conn: psycopg.Connection[Any], key: tuple[str, str, str], before: datetime
) -> list[float]:
    mart = sql.Identifier(SCHEMA, CANDLE_MARTS[key[2]])
    rows = conn.execute(
        sql.SQL(
            """
            select close_price::float8 from {mart}
            where exchange_id = %s and asset_id = %s and interval = %s and open_at < %s
            order by open_at desc
            limit %s
            """
        ).format(mart=mart),
        (*key, before, indicators.BOLLINGER_PERIOD - 1),
    ).fetchall()
    return [float(r[0]) for r in reversed(rows)]


def _write(
    conn: psycopg.Connection[Any],
    key: tuple[str, str, str],
    since: datetime | None,
    rows: pd.DataFrame,
    computed_at: datetime,
) -> None:
    with conn.transaction():
        conn.execute(
            """
            delete from marts.fct_technical_indicators
            where exchange_id = %s and asset_id = %s and interval = %s
              and (%s::timestamptz is null or open_at >= %s::timestamptz)
            """,
            (*key, since, since),
        )
        copy = sql.SQL("copy {} ({}) from stdin").format(
            sql.Identifier(SCHEMA, TABLE), sql.SQL(", ").join(map(sql.Identifier, COLUMN_NAMES))
        )
        with conn.cursor() as cur, cur.copy(copy) as out:
            for record in rows.itertuples(index=False):
                values = record._asdict()
                out.write_row(
                    [
                        *key[:2],
                        key[2],
                        values["open_at"],
                        values["quote_currency"],
                        values["close_price"],
                        values["is_closed"],
                        *(_nullable(values[c]) for c in indicators.INDICATOR_COLUMNS),
                        computed_at,
                    ]
                )


def _nullable(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def update_series(
    conn: psycopg.Connection[Any],
    key: tuple[str, str, str],
    first_stale: datetime,
    computed_at: datetime,
    *,
    full: bool = False,
) -> tuple[int, bool]:
    """Recompute one series from ``first_stale`` on, or entirely.

    Returns:
        The rows written, and whether the series was recomputed from its start.
    """
    state = None if full else _state(conn, key, first_stale)
    if state is None or not state.resumable:
        since, state, history = None, None, []
    else:
        since, history = first_stale, _history(conn, key, first_stale)
    candles = _read_candles(conn, key, since)
    result = (
        indicators.compute(candles["close"].set_axis(candles["open_at"]), key[2], state, history)
        if not candles.empty
        else pd.DataFrame(columns=list(indicators.INDICATOR_COLUMNS))
    )
    rows = pd.concat(
        [
            candles[["open_at", "quote_currency", "close_price", "is_closed"]],
            result.reset_index(drop=True),
        ],
        axis=1,
    )
    _write(conn, key, since, rows, computed_at)
    return len(rows), since is None


def update(
    conn: psycopg.Connection[Any], computed_at: datetime, *, full: bool = False
) -> UpdateSummary:
    """Bring the table in line with the candle marts (``full``: recompute every series).

    ``conn`` is the transformer's, in autocommit mode; each series is one transaction.
    """
    ensure_table(conn)
    summary = UpdateSummary()
    intervals = _candle_sources(conn)
    if not intervals:
        logger.info("no candle mart yet: nothing to compute")
        return summary
    if full:
        conn.execute("truncate marts.fct_technical_indicators")
    summary.series, stale = stale_series(conn, intervals)
    for key, first_stale in stale.items():
        written, in_full = update_series(conn, key, first_stale, computed_at, full=full)
        summary.series_updated += 1
        summary.series_recomputed_in_full += int(in_full)
        summary.rows_written += written
        summary.updated.append("/".join(key))
    total = conn.execute("select count(*) from marts.fct_technical_indicators").fetchone()
    summary.rows_total = int(total[0]) if total else 0
    conn.execute("analyze marts.fct_technical_indicators")
    return summary


def differences(conn: psycopg.Connection[Any]) -> int:
    """Series whose stored rows differ from the candle marts (0 right after an update)."""
    intervals = _candle_sources(conn)
    return len(stale_series(conn, intervals)[1]) if intervals else 0
