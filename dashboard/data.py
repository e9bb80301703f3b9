"""Every query the dashboard runs, and nothing else.

The dashboard reads the dbt marts (schema ``marts``) only, as the read-only ``reader`` role.
Each public function returns a :class:`pandas.DataFrame` and is cached for a few minutes
(``st.cache_data`` with a TTL), keyed by the database it reads, the SQL and its parameters.
SQL is written here in full; values are always passed as psycopg placeholders and no
identifier ever comes from user input.

Two kinds of "no data":

* the warehouse cannot be reached, or no mart has been built yet: :func:`warehouse_status`
  says so and the pages show "No data yet — run ``make demo``";
* one mart is missing (not built yet) or empty for the chosen filters: its query returns an
  empty frame, and the page shows an empty state for that chart only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, LiteralString

import pandas as pd
import psycopg
import streamlit as st
from psycopg.types.numeric import FloatLoader

from ingestion.errors import IngestionError

logger = logging.getLogger(__name__)

TTL_MARKET = timedelta(minutes=5)  # marts are rebuilt at most hourly
TTL_HEALTH = timedelta(minutes=1)  # the health page should notice a run quickly
CONNECT_TIMEOUT_SECONDS = 3

MARTS_SCHEMA = "marts"


class DataUnavailable(IngestionError, RuntimeError):
    """The warehouse cannot answer: not reachable, or not configured."""


@dataclass(frozen=True)
class WarehouseStatus:
    """Whether there is anything to show, and if not, why."""

    ready: bool
    reason: str  # one line for the empty state when not ready
    marts: tuple[str, ...] = ()


# --- connection -------------------------------------------------------------------------------
def reader_dsn() -> str:
    """The read-only ``reader`` role's DSN for the configured warehouse database.

    Built from :class:`~ingestion.settings.ReaderSettings` only: the server's address and
    the reader's own password. The dashboard never loads the admin DSN, the superuser's
    secret file or another role's password, even when ``.env`` holds them; it never
    starts a service.
    """
    from ingestion.services import credentials
    from ingestion.settings import ReaderSettings

    try:
        return credentials.role_dsn(ReaderSettings(), "reader")
    except Exception as err:  # no reader password yet, bad configuration, ...
        raise DataUnavailable(f"the warehouse is not set up ({err})") from err


def _connect(dsn: str) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(
            dsn,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            autocommit=True,
            application_name="criptopipe-dashboard",
        )
    except psycopg.OperationalError as err:
        raise DataUnavailable("the warehouse database is not reachable") from err
    # Charts want floats: load PostgreSQL numeric as float directly instead of Decimal
    # (exact money arithmetic happens in dbt; here it is display only, and much faster).
    conn.adapters.register_loader("numeric", FloatLoader)
    return conn


def _frame(dsn: str, query: LiteralString, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """Run one read-only query; a mart that does not exist yet reads as an empty frame."""
    with _connect(dsn) as conn:
        conn.read_only = True
        try:
            cursor = conn.execute(query, params or {})
        except psycopg.errors.UndefinedTable as err:
            logger.info("mart not built yet: %s", err.diag.message_primary)
            return pd.DataFrame()
        except psycopg.errors.UndefinedColumn as err:
            # A mart whose contract changed under us: show the gap, do not crash the page.
            logger.warning("mart column missing: %s", err.diag.message_primary)
            return pd.DataFrame()
        columns = [c.name for c in cursor.description or ()]
        return pd.DataFrame(cursor.fetchall(), columns=columns)


@st.cache_data(ttl=TTL_MARKET, show_spinner=False)
def _cached(dsn: str, query: LiteralString, params: dict[str, Any] | None = None) -> pd.DataFrame:
    return _frame(dsn, query, params)


@st.cache_data(ttl=TTL_HEALTH, show_spinner=False)
def _cached_health(
    dsn: str, query: LiteralString, params: dict[str, Any] | None = None
) -> pd.DataFrame:
    return _frame(dsn, query, params)


def _read(query: LiteralString, params: dict[str, Any] | None = None) -> pd.DataFrame:
    return _cached(reader_dsn(), query, params).copy()


def _read_health(query: LiteralString, params: dict[str, Any] | None = None) -> pd.DataFrame:
    return _cached_health(reader_dsn(), query, params).copy()


def clear_cache() -> None:
    """Forget every cached query (the sidebar's "Refresh" button)."""
    _cached.clear()
    _cached_health.clear()


def _window(start: date, end: date) -> dict[str, datetime]:
    """Days ``start`` to ``end`` inclusive as a half-open UTC timestamp range."""
    return {
        "start": datetime.combine(start, time(), UTC),
        "end": datetime.combine(end + timedelta(days=1), time(), UTC),
    }


# --- status -----------------------------------------------------------------------------------
def warehouse_status() -> WarehouseStatus:
    """Can the dashboard show anything? Not cached: the answer is one cheap catalogue query."""
    try:
        dsn = reader_dsn()
        with _connect(dsn) as conn:
            rows = conn.execute(
                """
                select table_name
                from information_schema.tables
                where table_schema = %(schema)s
                order by table_name
                """,
                {"schema": MARTS_SCHEMA},
            ).fetchall()
    except DataUnavailable as err:
        return WarehouseStatus(False, str(err))
    except psycopg.Error as err:
        return WarehouseStatus(False, f"the warehouse refused the query ({err.sqlstate})")
    marts = tuple(row[0] for row in rows)
    if not marts:
        return WarehouseStatus(False, "no mart has been built yet")
    return WarehouseStatus(True, "", marts)


# --- dimensions -------------------------------------------------------------------------------
def assets() -> pd.DataFrame:
    """Tracked assets: asset_id, asset_name, is_stablecoin."""
    return _read(
        """
        select asset_id, asset_name, is_stablecoin
        from marts.dim_assets
        order by asset_id
        """
    )


def exchanges() -> pd.DataFrame:
    """Exchanges: exchange_id, exchange_name, quote_currency."""
    return _read(
        """
        select exchange_id, exchange_name, quote_currency
        from marts.dim_exchanges
        order by exchange_id
        """
    )


def data_date_range() -> tuple[date, date] | None:
    """First and last day with daily candles (the default date range of the filters)."""
    frame = _read(
        """
        select min(open_at)::date as first_day, max(open_at)::date as last_day
        from marts.fct_candles_daily
        """
    )
    if frame.empty or frame.iloc[0].isna().any():
        return None
    return frame.iloc[0]["first_day"], frame.iloc[0]["last_day"]


# --- market overview --------------------------------------------------------------------------
def market_snapshots(start: date, end: date) -> pd.DataFrame:
    """Global market: snapshot_at, total_market_cap_usd, total_volume_usd, dominance (%)."""
    return _read(
        """
        select snapshot_at, total_market_cap_usd, total_volume_usd,
               btc_dominance_pct, eth_dominance_pct, market_cap_change_pct_24h
        from marts.fct_market_snapshots
        where snapshot_at >= %(start)s and snapshot_at < %(end)s
        order by snapshot_at
        """,
        _window(start, end),
    )


def market_cap_daily(asset_ids: tuple[str, ...], start: date, end: date) -> pd.DataFrame:
    """Daily market cap per tracked asset (CoinGecko market_chart): the history line."""
    return _read(
        """
        select price_date, asset_id, market_cap_usd, price_usd, volume_usd,
               market_cap_share_pct, is_closed, observed_at
        from marts.fct_market_cap_daily
        where asset_id = any(%(assets)s)
          and price_date >= %(start)s::date and price_date < %(end)s::date
        order by price_date, asset_id
        """,
        {"assets": list(asset_ids), **_window(start, end)},
    )


def asset_market_caps(asset_ids: tuple[str, ...]) -> pd.DataFrame:
    """The latest CoinGecko market data per asset: rank, price, market cap, supply."""
    return _read(
        """
        select asset_id, asset_name, market_cap_rank, current_price_usd, market_cap_usd,
               circulating_supply, market_data_updated_at
        from marts.dim_assets
        where asset_id = any(%(assets)s) and market_cap_usd is not null
        order by market_cap_usd desc
        """,
        {"assets": list(asset_ids)},
    )


def sentiment(start: date, end: date) -> pd.DataFrame:
    """Fear & Greed per day with BTC's return that day."""
    return _read(
        """
        select sentiment_date, fear_greed_value, fear_greed_classification,
               btc_close_price_usd, btc_simple_return
        from marts.fct_sentiment_daily
        where sentiment_date between %(start)s and %(end)s
        order by sentiment_date
        """,
        {"start": start, "end": end},
    )


def top_movers(asset_ids: tuple[str, ...]) -> pd.DataFrame:
    """Change over the last 24 hours per asset, from the consensus USD price of closed hours.

    The latest closed hour's consensus (``fct_price_consensus``: the median of the exchanges'
    closed candles, the one consensus dbt defines) is compared with the consensus of the hour
    24 hours earlier.

    Columns: asset_id, close_price_usd, close_price_usd_24h_ago, change_pct, as_of (the
    hour's open), closed_at and closed_at_24h_ago (the instants the two prices hold at).
    """
    return _read(
        """
        with hourly as (
            select asset_id, open_at, close_at, consensus_close_price_usd as close_price_usd
            from marts.fct_price_consensus
            where asset_id = any(%(assets)s) and interval = '1h'
        ),

        latest as (
            select asset_id, max(open_at) as as_of
            from hourly
            group by asset_id
        )

        select
            latest.asset_id,
            current_hour.close_price_usd,
            day_before.close_price_usd as close_price_usd_24h_ago,
            100 * (current_hour.close_price_usd / day_before.close_price_usd - 1)
                as change_pct,
            latest.as_of,
            current_hour.close_at as closed_at,
            day_before.close_at as closed_at_24h_ago
        from latest
        inner join hourly as current_hour
            on current_hour.asset_id = latest.asset_id and current_hour.open_at = latest.as_of
        inner join hourly as day_before
            on day_before.asset_id = latest.asset_id
            and day_before.open_at = latest.as_of - interval '24 hours'
        where day_before.close_price_usd > 0
        order by change_pct desc
        """,
        {"assets": list(asset_ids)},
    )


# --- currencies -------------------------------------------------------------------------------
def fx_currencies() -> tuple[str, ...]:
    """The currencies with USD rates in the warehouse (every configured FX currency)."""
    frame = _read(
        """
        select distinct quote_currency
        from marts.fct_fx_rates_hourly
        order by quote_currency
        """
    )
    return () if frame.empty else tuple(frame["quote_currency"])


def fx_rates_at(currency: str, hours: tuple[datetime, ...]) -> pd.DataFrame:
    """The USD→``currency`` rate in force at each of ``hours`` (whole UTC hours).

    From ``fct_fx_rates_hourly``: the newest ECB rate available at that instant, never a later
    one. Columns: rate_at, rate, published_rate_date; hours without a rate yet are absent.
    """
    return _read(
        """
        select rate_at, rate, published_rate_date
        from marts.fct_fx_rates_hourly
        where quote_currency = %(currency)s and rate_at = any(%(hours)s)
        order by rate_at
        """,
        {"currency": currency, "hours": list(hours)},
    )


# --- asset ------------------------------------------------------------------------------------
_CANDLES = """
    select
        open_at, close_at, open_price, high_price, low_price, close_price, volume,
        quote_currency, is_closed
    from {candles_mart}
    where asset_id = %(asset)s and exchange_id = %(exchange)s
      and open_at >= %(start)s and open_at < %(end)s
    order by open_at
"""
_CANDLES_SQL: dict[str, LiteralString] = {
    "1h": _CANDLES.replace("{candles_mart}", "marts.fct_candles_hourly"),
    "1d": _CANDLES.replace("{candles_mart}", "marts.fct_candles_daily"),
}


def candles(asset_id: str, exchange_id: str, interval: str, start: date, end: date) -> pd.DataFrame:
    """OHLCV of one asset on one exchange in its quote currency.

    ``dashboard.currency`` converts it at the rate in force at each candle's close.
    ``interval`` (``1h`` or ``1d``) picks one of two fixed statements, never SQL text.
    Columns: open_at, close_at, open/high/low/close_price, volume, quote_currency,
    is_closed (false for the still-open candle, whose prices are provisional).

    Raises:
        ValueError: ``interval`` is neither ``1h`` nor ``1d``.
    """
    if interval not in _CANDLES_SQL:
        raise ValueError(f"unknown interval {interval!r}; use 1h or 1d")
    params = {"asset": asset_id, "exchange": exchange_id, **_window(start, end)}
    return _read(_CANDLES_SQL[interval], params)


def asset_exchanges(asset_id: str) -> list[str]:
    """Exchanges that have daily candles for ``asset_id``."""
    frame = _read(
        """
        select distinct exchange_id
        from marts.fct_candles_daily
        where asset_id = %(asset)s
        order by exchange_id
        """,
        {"asset": asset_id},
    )
    return [] if frame.empty else frame["exchange_id"].tolist()


def daily_returns(asset_ids: tuple[str, ...], start: date, end: date) -> pd.DataFrame:
    """Returns, rolling annualised volatility (7 and 30 days) and drawdown per asset and day."""
    return _read(
        """
        select asset_id, price_date, close_price_usd, simple_return, log_return,
               volatility_7d, volatility_30d, running_peak_price_usd, drawdown
        from marts.fct_daily_returns
        where asset_id = any(%(assets)s) and price_date between %(start)s and %(end)s
        order by asset_id, price_date
        """,
        {"assets": list(asset_ids), "start": start, "end": end},
    )


def technical_indicators(
    asset_id: str, exchange_id: str, interval: str, start: date, end: date
) -> pd.DataFrame:
    """RSI(14), MACD(12,26,9), Bollinger bands, EWMA volatility and drawdown of one series.

    The series is one asset on one exchange at ``interval``, from the pandas mart
    fct_technical_indicators, in its quote currency.
    """
    return _read(
        """
        select open_at, quote_currency, close_price, is_closed, rsi_14, macd, macd_signal,
               macd_histogram, bollinger_middle, bollinger_upper, bollinger_lower,
               ewma_volatility_annualized, drawdown
        from marts.fct_technical_indicators
        where asset_id = %(asset)s and exchange_id = %(exchange)s and interval = %(interval)s
          and open_at >= %(start)s and open_at < %(end)s
        order by open_at
        """,
        {"asset": asset_id, "exchange": exchange_id, "interval": interval, **_window(start, end)},
    )


def ewma_volatility(asset_ids: tuple[str, ...], start: date, end: date) -> pd.DataFrame:
    """RiskMetrics EWMA volatility (annualised) per asset and closed day.

    It comes from the daily candles of the exchange with the longest USD/USDT daily history of
    that asset. Today's open candle is left out: its close is not a price yet.
    """
    return _read(
        """
        with reference_exchange as (
            select distinct on (asset_id) asset_id, exchange_id
            from marts.fct_technical_indicators
            where interval = '1d' and quote_currency in ('USD', 'USDT')
              and asset_id = any(%(assets)s)
            group by asset_id, exchange_id
            order by asset_id, count(*) desc, exchange_id
        )

        select i.asset_id, i.exchange_id, (i.open_at at time zone 'utc')::date as price_date,
               i.ewma_volatility_annualized, i.drawdown
        from marts.fct_technical_indicators as i
        inner join reference_exchange using (asset_id, exchange_id)
        where i.interval = '1d' and i.is_closed
          and i.open_at >= %(start)s and i.open_at < %(end)s
        order by i.asset_id, i.open_at
        """,
        {"assets": list(asset_ids), **_window(start, end)},
    )


# --- cross-exchange ---------------------------------------------------------------------------
def spreads(asset_ids: tuple[str, ...], start: date, end: date) -> pd.DataFrame:
    """Per asset, closed hour and exchange: the close, its deviation and the hour's spread.

    The deviation is from the consensus USD price (bps); the spread is between the highest and
    lowest exchange that hour (bps). The mart holds closed candles only: the open hour is never
    compared.
    """
    return _read(
        """
        select asset_id, open_at, exchange_id, quote_currency, close_price,
               consensus_close_price_usd, deviation_bps, is_divergent, spread_bps,
               min_close_price_usd, max_close_price_usd, exchange_count
        from marts.fct_cross_exchange_spreads
        where asset_id = any(%(assets)s)
          and open_at >= %(start)s and open_at < %(end)s
        order by asset_id, open_at, exchange_id
        """,
        {"assets": list(asset_ids), **_window(start, end)},
    )


def brazil_premium(asset_ids: tuple[str, ...], start: date, end: date) -> pd.DataFrame:
    """Premium of the BRL market over the consensus USD price, closed hours only.

    Converted at the USD→BRL rate in force at each hour's close (never a rate published later).
    """
    return _read(
        """
        select asset_id, open_at, close_price_brl, consensus_close_price_usd, usd_brl_rate,
               fx_rate_date, fx_rate_available_at, consensus_close_price_brl, premium_pct
        from marts.fct_brazil_premium
        where asset_id = any(%(assets)s)
          and open_at >= %(start)s and open_at < %(end)s
        order by asset_id, open_at
        """,
        {"assets": list(asset_ids), **_window(start, end)},
    )


def price_divergences(asset_ids: tuple[str, ...], start: date, end: date) -> pd.DataFrame:
    """Observations of a price source that strayed from the consensus beyond the threshold.

    A source is an exchange's closed close or a CoinGecko point; each comes with how many in a
    row strayed.
    """
    return _read(
        """
        select asset_id, price_source, observed_at, price_usd, consensus_close_price_usd,
               deviation_bps, divergent_streak, is_sustained_divergence
        from marts.fct_price_reconciliation
        where asset_id = any(%(assets)s) and is_divergent
          and observed_at >= %(start)s and observed_at < %(end)s
        order by observed_at desc, asset_id, price_source
        """,
        {"assets": list(asset_ids), **_window(start, end)},
    )


# --- risk -------------------------------------------------------------------------------------
def correlations(asset_ids: tuple[str, ...], as_of: date) -> pd.DataFrame:
    """The 30-day return correlation of each pair of assets, on the latest day up to ``as_of``.

    That is the last day on or before ``as_of`` that has one; null where the window held too
    few paired returns.
    """
    return _read(
        """
        with latest as (
            select max(price_date) as price_date
            from marts.fct_asset_correlations
            where price_date <= %(as_of)s
              and asset_id = any(%(assets)s) and other_asset_id = any(%(assets)s)
        )

        select c.price_date, c.asset_id, c.other_asset_id, c.correlation_30d,
               c.observation_count
        from marts.fct_asset_correlations as c
        inner join latest on c.price_date = latest.price_date
        where c.asset_id = any(%(assets)s) and c.other_asset_id = any(%(assets)s)
        order by c.asset_id, c.other_asset_id
        """,
        {"assets": list(asset_ids), "as_of": as_of},
    )


# --- data health ------------------------------------------------------------------------------
def pipeline_health() -> pd.DataFrame:
    """Per source endpoint: freshness, last load and success, 24-hour figures and quarantine.

    Rows and runs in 24 h, quarantined records, and hours since the last load, as evaluated
    by the mart.
    """
    return _read_health(
        """
        select
            source_name, endpoint_name, freshness_status,
            round(extract(epoch from evaluated_at - last_fetched_at) / 3600, 2)
                as hours_since_fetch,
            last_fetched_at, last_success_at, last_run_at, last_run_status,
            runs_last_24h, failed_runs_last_24h, rows_fetched_last_24h, row_count,
            quarantined_count, quarantined_last_24h, last_error_message,
            round(extract(epoch from freshness_warn_after) / 3600, 2) as warn_after_hours,
            round(extract(epoch from freshness_error_after) / 3600, 2) as error_after_hours,
            evaluated_at
        from marts.fct_pipeline_health
        order by source_name, endpoint_name
        """
    )


def recent_runs(limit: int = 50) -> pd.DataFrame:
    """The latest ingestion runs per endpoint with their counts (newest first)."""
    return _read_health(
        """
        select started_at, source_name, endpoint_name, run_status, duration_seconds,
               request_count, retry_count, fetched_count, inserted_count, updated_count,
               unchanged_count, quarantined_count, lake_document_count, error_message
        from marts.fct_ingestion_runs
        order by started_at desc, source_name, endpoint_name
        limit %(limit)s
        """,
        {"limit": limit},
    )


def lake_documents() -> pd.DataFrame:
    """Lake documents written per source (responses kept in MongoDB), from the run log."""
    return _read_health(
        """
        select source_name, sum(lake_document_count) as lake_documents,
               count(*) as runs, max(started_at) as last_run_at
        from marts.fct_ingestion_runs
        group by source_name
        order by source_name
        """
    )


def quarantine_reasons() -> pd.DataFrame:
    """Quarantined records per source, endpoint and reason."""
    return _read_health(
        """
        select source_name, endpoint_name, quarantine_reason, quarantined_count,
               quarantined_last_24h, unparsed_body_count, first_quarantined_at,
               last_quarantined_at
        from marts.fct_quarantine_reasons
        order by quarantined_count desc, source_name, endpoint_name
        """
    )


def dbt_test_results(days: int = 7) -> pd.DataFrame:
    """The latest result of each dbt test and unit test, whichever dbt invocation ran it.

    Invocations are Dagster's, ``criptopipe dbt build``'s or docker compose's; failures come
    first. dbt's on-run-end hook (``dbt_project/macros/persist_run_results.sql``) records every
    invocation in ``marts.dbt_run_results``; tests last run more than ``days`` before the
    newest invocation (removed from the project since) are left out.
    """
    return _read_health(
        """
        with latest as (
            select distinct on (unique_id)
                node_name, resource_type, status, failures, message, execution_time_seconds,
                command, invocation_started_at
            from marts.dbt_run_results
            where resource_type in ('test', 'unit_test')
              and invocation_started_at >= (
                  select max(invocation_started_at) from marts.dbt_run_results
              ) - make_interval(days => %(days)s)
            order by unique_id, invocation_started_at desc, recorded_at desc
        )

        select
            node_name as test,
            case when resource_type = 'unit_test' then 'unit test' else 'data test' end as kind,
            status,
            failures,
            message,
            round(execution_time_seconds::numeric, 3) as execution_time_s,
            command as dbt_command,
            invocation_started_at as ran_at
        from latest
        order by
            case status
                when 'error' then 0 when 'fail' then 1 when 'warn' then 2
                when 'skipped' then 3 when 'pass' then 4 else 5
            end,
            node_name
        """,
        {"days": days},
    )


def now_utc() -> datetime:
    """The time the page was rendered (for "as of" captions of things that are not data)."""
    return datetime.now(UTC)
