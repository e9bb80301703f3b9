"""The market queries: dimensions, market overview, currencies, asset, cross-exchange, risk."""

from __future__ import annotations

from datetime import date, datetime
from typing import LiteralString

import pandas as pd

from dashboard.data.warehouse import day_window, read_market


def assets() -> pd.DataFrame:
    """Configured assets (resolved from the listings): asset_id, asset_name, is_stablecoin."""
    return read_market(
        """
        select asset_id, asset_name, is_stablecoin
        from marts.dim_assets
        where is_tracked
        order by asset_id
        """
    )


def exchanges() -> pd.DataFrame:
    """Exchanges: exchange_id, exchange_name, quote_currency."""
    return read_market(
        """
        select exchange_id, exchange_name, quote_currency
        from marts.dim_exchanges
        order by exchange_id
        """
    )


def data_date_range() -> tuple[date, date] | None:
    """First and last day with daily candles (the default date range of the filters)."""
    frame = read_market(
        """
        select min(open_at)::date as first_day, max(open_at)::date as last_day
        from marts.fct_candles_daily
        """
    )
    if frame.empty or frame.iloc[0].isna().any():
        return None
    return frame.iloc[0]["first_day"], frame.iloc[0]["last_day"]


def market_snapshots(start: date, end: date) -> pd.DataFrame:
    """Global market: snapshot_at, total_market_cap_usd, total_volume_usd, dominance (%)."""
    return read_market(
        """
        select snapshot_at, total_market_cap_usd, total_volume_usd,
               btc_dominance_pct, eth_dominance_pct, market_cap_change_pct_24h
        from marts.fct_market_snapshots
        where snapshot_at >= %(start)s and snapshot_at < %(end)s
        order by snapshot_at
        """,
        day_window(start, end),
    )


def market_cap_daily(asset_ids: tuple[str, ...], start: date, end: date) -> pd.DataFrame:
    """Daily market cap per tracked asset (CoinGecko market_chart): the history line."""
    return read_market(
        """
        select price_date, asset_id, market_cap_usd, price_usd, volume_usd,
               market_cap_share_pct, is_closed, observed_at
        from marts.fct_market_cap_daily
        where asset_id = any(%(assets)s)
          and price_date >= %(start)s::date and price_date < %(end)s::date
        order by price_date, asset_id
        """,
        {"assets": list(asset_ids), **day_window(start, end)},
    )


def asset_market_caps(asset_ids: tuple[str, ...]) -> pd.DataFrame:
    """The latest CoinGecko market data per asset: rank, price, market cap, supply."""
    return read_market(
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
    return read_market(
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
    return read_market(
        """
        select
            latest.asset_id,
            latest.consensus_close_price_usd as close_price_usd,
            day_before.consensus_close_price_usd as close_price_usd_24h_ago,
            100 * (latest.consensus_close_price_usd / day_before.consensus_close_price_usd - 1)
                as change_pct,
            latest.open_at as as_of,
            latest.close_at as closed_at,
            day_before.close_at as closed_at_24h_ago
        from (select distinct unnest(%(assets)s::text[]) as asset_id) as asset
        -- the newest hour: one probe of the primary key (asset_id, interval, open_at)
        cross join lateral (
            select consensus.asset_id, consensus.open_at, consensus.close_at,
                   consensus.consensus_close_price_usd
            from marts.fct_price_consensus as consensus
            where consensus.asset_id = asset.asset_id and consensus.interval = '1h'
            order by consensus.open_at desc
            limit 1
        ) as latest
        inner join marts.fct_price_consensus as day_before
            on day_before.asset_id = latest.asset_id
            and day_before.interval = '1h'
            and day_before.open_at = latest.open_at - interval '24 hours'
        where day_before.consensus_close_price_usd > 0
        order by change_pct desc
        """,
        {"assets": list(asset_ids)},
    )


def fx_currencies() -> tuple[str, ...]:
    """The currencies with USD rates in the warehouse (every configured FX currency)."""
    frame = read_market(
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
    return read_market(
        """
        select rate_at, rate, published_rate_date
        from marts.fct_fx_rates_hourly
        where quote_currency = %(currency)s and rate_at = any(%(hours)s)
        order by rate_at
        """,
        {"currency": currency, "hours": list(hours)},
    )


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
# Every other interval from fct_candles (the exchange's own candle, else a rollup).
_ANY_INTERVAL_CANDLES: LiteralString = """
    select
        open_at, close_at, open_price, high_price, low_price, close_price, volume,
        quote_currency, is_closed
    from marts.fct_candles
    where asset_id = %(asset)s and exchange_id = %(exchange)s and interval = %(interval)s
      and open_at >= %(start)s and open_at < %(end)s
    order by open_at
"""
CANDLE_INTERVALS: dict[str, int] = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3600,
    "4h": 14400,
    "1d": 86400,
}
MAX_POINTS = 5_000  # candles one chart trace sends to the browser, at most


def chart_interval(interval: str, start: date, end: date, max_points: int = MAX_POINTS) -> str:
    """The interval to chart ``start`` .. ``end`` (whole days) in, within ``max_points``.

    That is ``interval``, or the finest coarser one that keeps the chart within
    ``max_points`` candles per trace.

    Raises:
        ValueError: ``interval`` is not one of :data:`CANDLE_INTERVALS`.
    """
    if interval not in CANDLE_INTERVALS:
        raise ValueError(f"unknown interval {interval!r}; use one of {', '.join(CANDLE_INTERVALS)}")
    seconds = ((end - start).days + 1) * 86400
    for label, length in CANDLE_INTERVALS.items():
        if length >= CANDLE_INTERVALS[interval] and seconds / length <= max_points:
            return label
    return "1d"


def candles(asset_id: str, exchange_id: str, interval: str, start: date, end: date) -> pd.DataFrame:
    """OHLCV of one asset on one exchange in its quote currency.

    ``dashboard.currency`` converts it at the rate in force at each candle's close.
    ``interval`` (``1m`` … ``1d``) picks a fixed statement, never SQL text: 1h and 1d
    read their marts, the others ``fct_candles`` (a rollup where the exchange lacks the
    interval). Pick it with :func:`chart_interval` to keep a chart within
    :data:`MAX_POINTS`. Columns: open_at, close_at, open/high/low/close_price, volume,
    quote_currency, is_closed (false for the still-open candle, whose prices are
    provisional).

    Raises:
        ValueError: ``interval`` is not one of :data:`CANDLE_INTERVALS`.
    """
    if interval not in CANDLE_INTERVALS:
        raise ValueError(f"unknown interval {interval!r}; use one of {', '.join(CANDLE_INTERVALS)}")
    params = {"asset": asset_id, "exchange": exchange_id, **day_window(start, end)}
    if interval in _CANDLES_SQL:
        return read_market(_CANDLES_SQL[interval], params)
    return read_market(_ANY_INTERVAL_CANDLES, {**params, "interval": interval})


def asset_exchanges(asset_id: str) -> list[str]:
    """Exchanges that have daily candles for ``asset_id``."""
    frame = read_market(
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
    return read_market(
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
    return read_market(
        """
        select open_at, quote_currency, close_price, is_closed, rsi_14, macd, macd_signal,
               macd_histogram, bollinger_middle, bollinger_upper, bollinger_lower,
               ewma_volatility_annualized, drawdown
        from marts.fct_technical_indicators
        where asset_id = %(asset)s and exchange_id = %(exchange)s and interval = %(interval)s
          and open_at >= %(start)s and open_at < %(end)s
        order by open_at
        """,
        {
            "asset": asset_id,
            "exchange": exchange_id,
            "interval": interval,
            **day_window(start, end),
        },
    )


def ewma_volatility(asset_ids: tuple[str, ...], start: date, end: date) -> pd.DataFrame:
    """RiskMetrics EWMA volatility (annualised) per asset and closed day.

    It comes from the daily candles of the exchange with the longest USD/USDT daily history of
    that asset. Today's open candle is left out: its close is not a price yet.
    """
    return read_market(
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
        {"assets": list(asset_ids), **day_window(start, end)},
    )


_SPREADS_HOURLY: LiteralString = """
    select asset_id, open_at, exchange_id, quote_currency, close_price,
           consensus_close_price_usd, deviation_bps, is_divergent, spread_bps,
           min_close_price_usd, max_close_price_usd, exchange_count
    from marts.fct_cross_exchange_spreads
    where asset_id = any(%(assets)s)
      and open_at >= %(start)s and open_at < %(end)s
    order by asset_id, open_at, exchange_id
"""
# One row per asset, exchange and UTC day, pre-aggregated by dbt (fct_cross_exchange_spreads_
# daily, incremental): the day's last closed hour (its open_at, close and consensus), its
# widest spread, the exchange's largest deviation, divergent if any hour was.
_SPREADS_DAILY: LiteralString = """
    select asset_id, open_at, exchange_id, quote_currency, close_price,
           consensus_close_price_usd, deviation_bps, is_divergent, spread_bps,
           min_close_price_usd, max_close_price_usd, exchange_count, hour_count
    from marts.fct_cross_exchange_spreads_daily
    where asset_id = any(%(assets)s)
      and price_date >= %(start)s and price_date <= %(end)s
    order by asset_id, open_at, exchange_id
"""


def spreads_are_daily(start: date, end: date) -> bool:
    """Whether :func:`spreads` gives a row a day over ``start`` .. ``end``.

    It does when the range holds more hours than a chart trace may send (:data:`MAX_POINTS`).
    """
    return ((end - start).days + 1) * 24 > MAX_POINTS


def spreads(asset_ids: tuple[str, ...], start: date, end: date) -> pd.DataFrame:
    """Per asset, closed hour and exchange: the close, its deviation and the hour's spread.

    The deviation is from the consensus USD price (bps); the spread is between the highest and
    lowest exchange that hour (bps). The mart holds closed candles only: the open hour is never
    compared. Over more than :data:`MAX_POINTS` hours (:func:`spreads_are_daily`) a row is a
    UTC day instead, read from the daily mart dbt pre-aggregates
    (``fct_cross_exchange_spreads_daily``): its last hour's close and consensus (``open_at``
    is that hour's), its widest spread and the exchange's largest deviation, divergent if any
    hour was, and ``hour_count``, the closed hours behind the row.
    """
    if spreads_are_daily(start, end):
        return read_market(_SPREADS_DAILY, {"assets": list(asset_ids), "start": start, "end": end})
    return read_market(_SPREADS_HOURLY, {"assets": list(asset_ids), **day_window(start, end)})


_PREMIUM_HOURLY: LiteralString = """
    select asset_id, open_at, close_price_brl, consensus_close_price_usd, usd_brl_rate,
           fx_rate_date, fx_rate_available_at, consensus_close_price_brl, premium_pct
    from marts.fct_brazil_premium
    where asset_id = any(%(assets)s)
      and open_at >= %(start)s and open_at < %(end)s
    order by asset_id, open_at
"""
# One row per asset and UTC day: the day's last closed hour, as it stands. One probe of the
# mart's primary key (asset_id, open_at) per asset and day, newest hour first: a distinct on
# over every hour sorted 46 k rows at 20 M candles (~0.3-0.5 s, spilling to disk).
_PREMIUM_DAILY: LiteralString = """
    select
        last_hour.asset_id, last_hour.open_at, last_hour.close_price_brl,
        last_hour.consensus_close_price_usd, last_hour.usd_brl_rate, last_hour.fx_rate_date,
        last_hour.fx_rate_available_at, last_hour.consensus_close_price_brl,
        last_hour.premium_pct
    from unnest(%(assets)s::text[]) as asset (asset_id)
    cross join generate_series(
        %(start)s::timestamptz, %(end)s::timestamptz - interval '24 hours', interval '24 hours'
    ) as utc_day (day_start)
    cross join lateral (
        select *
        from marts.fct_brazil_premium as premium
        where premium.asset_id = asset.asset_id
          and premium.open_at >= utc_day.day_start
          and premium.open_at < utc_day.day_start + interval '24 hours'
        order by premium.open_at desc
        limit 1
    ) as last_hour
    order by last_hour.asset_id, last_hour.open_at
"""


def brazil_premium(asset_ids: tuple[str, ...], start: date, end: date) -> pd.DataFrame:
    """Premium of the BRL market over the consensus USD price, closed hours only.

    Converted at the USD→BRL rate in force at each hour's close (never a rate published later).
    Over more than :data:`MAX_POINTS` hours (:func:`spreads_are_daily`) a row is a UTC day
    instead: its last closed hour.
    """
    query = _PREMIUM_DAILY if spreads_are_daily(start, end) else _PREMIUM_HOURLY
    return read_market(query, {"assets": list(asset_ids), **day_window(start, end)})


def price_divergences(asset_ids: tuple[str, ...], start: date, end: date) -> pd.DataFrame:
    """Observations of a price source that strayed from the consensus beyond the threshold.

    A source is an exchange's closed close or a CoinGecko point; each comes with how many in a
    row strayed.
    """
    return read_market(
        """
        select asset_id, price_source, observed_at, price_usd, consensus_close_price_usd,
               deviation_bps, divergent_streak, is_sustained_divergence
        from marts.fct_price_reconciliation
        where asset_id = any(%(assets)s) and is_divergent
          and observed_at >= %(start)s and observed_at < %(end)s
        order by observed_at desc, asset_id, price_source
        """,
        {"assets": list(asset_ids), **day_window(start, end)},
    )


def correlations(asset_ids: tuple[str, ...], as_of: date) -> pd.DataFrame:
    """The 30-day return correlation of each pair of assets, on the latest day up to ``as_of``.

    That is the last day on or before ``as_of`` that has one; null where the window held too
    few paired returns.
    """
    return read_market(
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
