"""Deterministic synthetic markets: latent USD prices, exchange quotes, candles, FX, sentiment.

Everything here is a pure function of the seed. Random numbers come from counter-based
streams (:mod:`ingestion.simulator.streams`), so the noise of any hour is computed in O(1)
without generating what came before; FX rates from :mod:`ingestion.simulator.ecb` (both
re-exported here). Only the latent log price needs a pass over history
(it is a mean-reverting random walk, an Ornstein-Uhlenbeck process with a common market
factor); it is built once per (seed, asset) with numpy over the whole supported span
(2015 to 2040, ~219k hours) in a few milliseconds and cached.

Exchange prices are the latent price in the exchange's quote currency times a few basis
points of exchange-specific noise; BRL prices use the USD/BRL rate and a small "Brazil
premium". Hourly candles open at one hour boundary and close at the next; daily candles
aggregate the 24 hourly ones. The candle containing ``now`` is still open: its close is a
Brownian bridge between the hour's end points, so it moves with the clock and lands exactly
on the closed value when the hour ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np

from ingestion.calendars import is_ecb_business_day, target_holidays  # noqa: F401
from ingestion.connectors.registry import DESCRIPTIONS, describe
from ingestion.connectors.source import Exchange
from ingestion.simulator.ecb import (  # noqa: F401  (handlers read them as market.*)
    FX_ANCHOR_PER_EUR,
    FX_CURRENCIES,
    day_index,
    ecb_publication_at,
    fx_log_per_eur,
    fx_rate,
    last_business_day,
    latest_fixing,
    log_usdbrl_hourly,
)
from ingestion.simulator.streams import (  # noqa: F401  (the timeline, read as market.*)
    DAY,
    EPOCH0,
    EPOCH0_S,
    HOUR,
    N_DAYS,
    N_HOURS,
    SPAN_END,
    normal,
    ou_path,
    stream_key,
    uniform,
)
from ingestion.symbols import BY_ID, CATALOGUE, Asset


@dataclass(frozen=True, slots=True)
class ExchangeModel:
    """The synthetic market's parameters of one exchange.

    Its quote currency and symbols come from its connector module's description.
    """

    volume_share: float  # share of the asset's USD volume that trades there
    extra_tick_decimals: int = 0  # decimals its price tick has beyond six significant digits
    trade_size: float = 2500.0  # USD traded per trade, on average


# The one table of exchange names in the synthetic market.
EXCHANGE_MODELS: dict[str, ExchangeModel] = {
    "binance": ExchangeModel(0.30, extra_tick_decimals=1, trade_size=2500.0 * 5.0),
    "kraken": ExchangeModel(0.03),
    "coinbase": ExchangeModel(0.10),
    "mercadobitcoin": ExchangeModel(0.004),
}
EXCHANGES = tuple(name for name, source in DESCRIPTIONS.items() if source.exchange is not None)

# Reference level (USD, around 2022) and circulating supply of each catalogue asset.
ANCHOR_USD: dict[str, float] = {
    "BTC": 42000.0,
    "ETH": 2600.0,
    "SOL": 90.0,
    "BNB": 380.0,
    "XRP": 0.62,
    "ADA": 0.55,
    "DOGE": 0.11,
    "LTC": 95.0,
    "LINK": 12.0,
    "DOT": 9.0,
    "USDT": 1.0,
    "USDC": 1.0,
}
SUPPLY: dict[str, tuple[float, float | None]] = {  # circulating, max
    "BTC": (19_586_781.0, 21_000_000.0),
    "ETH": (120_183_924.988634, None),
    "SOL": (433_000_000.0, None),
    "BNB": (153_856_150.0, 200_000_000.0),
    "XRP": (54_000_000_000.0, 100_000_000_000.0),
    "ADA": (35_000_000_000.0, 45_000_000_000.0),
    "DOGE": (142_475_236_383.705, None),
    "LTC": (74_000_000.0, 84_000_000.0),
    "LINK": (587_000_000.0, 1_000_000_000.0),
    "DOT": (1_300_000_000.0, None),
    "USDT": (91_705_804_322.0054, None),
    "USDC": (24_000_000_000.0, None),
}
DAILY_USD_VOLUME = 0.04  # daily volume as a fraction of market cap


@lru_cache(maxsize=8)
def _market_factor(seed: int) -> np.ndarray:
    return normal(stream_key(seed, "market-factor"), np.arange(N_HOURS))


@lru_cache(maxsize=64)
def latent_log_usd(seed: int, asset_id: str) -> np.ndarray:
    """Log USD price of ``asset_id`` at every hour boundary from EPOCH0 (length N_HOURS+1)."""
    asset = BY_ID[asset_id]
    idio = normal(stream_key(seed, "walk", asset_id), np.arange(N_HOURS))
    if asset.is_stablecoin:
        path = ou_path(idio, sigma=0.00015, theta=1.0 / 12.0)
    else:
        rho = 0.75 if asset_id != "BTC" else 0.9
        eps = rho * _market_factor(seed) + math.sqrt(1.0 - rho * rho) * idio
        sigma = 0.0055 if asset_id == "BTC" else 0.0075
        path = ou_path(eps, sigma=sigma, theta=1.0 / (24 * 365))
    return np.log(ANCHOR_USD[asset_id]) + path


def round_sig(x: float, digits: int = 5) -> float:
    """``x`` rounded to ``digits`` significant digits (zero and non-finite values as they are)."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


def hour_sigma(asset_id: str) -> float:
    """The hourly volatility of ``asset_id``'s log price (tiny for a stablecoin)."""
    if BY_ID[asset_id].is_stablecoin:
        return 0.0002
    return 0.0055 if asset_id == "BTC" else 0.0075


# ----------------------------------------------------------------------------- exchanges


def _rules(exchange: str) -> Exchange:
    rules = describe(exchange).exchange
    if rules is None:
        raise ValueError(f"{exchange} is not an exchange")
    return rules


def quote_currency(exchange: str) -> str:
    """The currency ``exchange`` quotes prices in, as its connector module declares."""
    return _rules(exchange).quote_currency


def pair_log_price(seed: int, exchange: str, asset_id: str, idx: np.ndarray) -> np.ndarray:
    """Log price of ``asset_id`` on ``exchange``, in its quote, at hour boundaries ``idx``.

    The quote is USD, USDT (through tether's own price) or BRL (through the FX rate, with the
    Brazil premium); each exchange adds its own small noise.
    """
    latent = latent_log_usd(seed, asset_id)[idx]
    quote = quote_currency(exchange)
    if quote == "USDT":
        latent = latent - latent_log_usd(seed, "USDT")[idx]
    elif quote == "BRL":
        premium = 0.0125 + 0.0075 * np.tanh(normal(stream_key(seed, "premium"), idx // 24))
        latent = latent + log_usdbrl_hourly(seed, idx) + np.log1p(premium)
    noise = 0.0003 * normal(stream_key(seed, "exnoise", exchange, asset_id), idx)
    return latent + noise


@lru_cache(maxsize=256)
def price_decimals(exchange: str, asset_id: str) -> int:
    """Decimals of the exchange's price tick: about six significant digits."""
    in_brl = quote_currency(exchange) == "BRL"
    anchor = ANCHOR_USD[asset_id] * (6.0 if in_brl else 1.0)
    digits = math.floor(math.log10(anchor)) + 1
    decimals = 6 - digits + EXCHANGE_MODELS[exchange].extra_tick_decimals
    return max(0 if in_brl else 1, min(8, decimals))


@dataclass(frozen=True, slots=True)
class CandleArrays:
    """Candles of one (exchange, asset, interval), oldest first; prices unrounded."""

    open_time: np.ndarray  # epoch seconds
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # base units
    trades: np.ndarray  # int64
    taker_ratio: np.ndarray  # share of volume bought by takers

    def __len__(self) -> int:
        return len(self.open_time)

    @property
    def vwap(self) -> np.ndarray:
        """Each candle's volume-weighted average price, approximated and kept within low..high."""
        typical = (self.high + self.low + 2.0 * self.close + self.open) / 5.0
        return np.clip(typical, self.low, self.high)


def hourly_candles(seed: int, exchange: str, asset_id: str, i0: int, i1: int) -> CandleArrays:
    """Closed hourly candles for hour indices [i0, i1) (hour index 0 starts at EPOCH0)."""
    idx = np.arange(i0, i1 + 1, dtype=np.int64)
    logp = pair_log_price(seed, exchange, asset_id, idx)
    hours = idx[:-1]
    o = np.exp(logp[:-1])
    c = np.exp(logp[1:])
    sig = hour_sigma(asset_id)
    key_w = stream_key(seed, "wick", exchange, asset_id)
    up = np.abs(normal(key_w, hours)) * sig * 0.6
    dn = np.abs(normal(key_w ^ 0xA5A5, hours)) * sig * 0.6
    h = np.maximum(o, c) * np.exp(up)
    low = np.minimum(o, c) * np.exp(-dn)
    usd = np.exp(latent_log_usd(seed, asset_id)[hours])
    cap = usd * SUPPLY[asset_id][0]
    activity = np.exp(0.45 * normal(stream_key(seed, "vol", exchange, asset_id), hours))
    move = 1.0 + 40.0 * np.abs(logp[1:] - logp[:-1])
    model = EXCHANGE_MODELS[exchange]
    usd_volume = cap * DAILY_USD_VOLUME / 24.0 * model.volume_share * activity * move
    volume = usd_volume / usd
    trades = np.maximum(1, (usd_volume / model.trade_size))
    taker = 0.4 + 0.2 * uniform(stream_key(seed, "taker", exchange, asset_id), hours)
    return CandleArrays(
        open_time=EPOCH0_S + hours * HOUR,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=volume,
        trades=trades.astype(np.int64),
        taker_ratio=taker,
    )


def partial_hour(seed: int, exchange: str, asset_id: str, i: int, elapsed_s: int) -> CandleArrays:
    """The still-open hourly candle ``i`` after ``elapsed_s`` seconds (0 < elapsed_s < 3600)."""
    full = hourly_candles(seed, exchange, asset_id, i, i + 1)
    f = elapsed_s / HOUR
    lo, lc = math.log(full.open[0]), math.log(full.close[0])
    bridge = (
        hour_sigma(asset_id)
        * math.sqrt(f * (1.0 - f))
        * float(normal(stream_key(seed, "bridge", exchange, asset_id), i * HOUR + elapsed_s)[0])
    )
    close = math.exp(lo + f * (lc - lo) + bridge)
    o = full.open[0]
    up = math.log(full.high[0] / max(o, full.close[0]))
    dn = math.log(min(o, full.close[0]) / full.low[0])
    high = max(o, close) * math.exp(up * f)
    low = min(o, close) * math.exp(-dn * f)
    return CandleArrays(
        open_time=full.open_time,
        open=full.open,
        high=np.array([high]),
        low=np.array([low]),
        close=np.array([close]),
        volume=full.volume * f,
        trades=(full.trades * f).astype(np.int64),
        taker_ratio=full.taker_ratio,
    )


def _concat(parts: list[CandleArrays]) -> CandleArrays:
    return CandleArrays(
        *(
            np.concatenate([getattr(p, n) for p in parts])
            for n in (
                "open_time",
                "open",
                "high",
                "low",
                "close",
                "volume",
                "trades",
                "taker_ratio",
            )
        )
    )


def _aggregate_days(h: CandleArrays, n_days: int, hours_per_day: int = 24) -> CandleArrays:
    def shape(a: np.ndarray) -> np.ndarray:
        return a.reshape(n_days, hours_per_day)

    vol = shape(h.volume).sum(axis=1)
    taker = (shape(h.volume * h.taker_ratio).sum(axis=1)) / np.maximum(vol, 1e-300)
    return CandleArrays(
        open_time=shape(h.open_time)[:, 0],
        open=shape(h.open)[:, 0],
        high=shape(h.high).max(axis=1),
        low=shape(h.low).min(axis=1),
        close=shape(h.close)[:, -1],
        volume=vol,
        trades=shape(h.trades).sum(axis=1),
        taker_ratio=taker,
    )


def daily_candles(seed: int, exchange: str, asset_id: str, d0: int, d1: int) -> CandleArrays:
    """Closed daily candles for day indices [d0, d1): aggregates of the hourly candles."""
    return _aggregate_days(hourly_candles(seed, exchange, asset_id, d0 * 24, d1 * 24), d1 - d0)


def closed_candles(
    seed: int, exchange: str, asset_id: str, interval_s: int, i0: int, i1: int
) -> CandleArrays:
    """Closed candles with indices [i0, i1) of the given interval (3600 or 86400)."""
    if interval_s == HOUR:
        return hourly_candles(seed, exchange, asset_id, i0, i1)
    if interval_s == DAY:
        return daily_candles(seed, exchange, asset_id, i0, i1)
    raise ValueError(f"unsupported interval {interval_s}")


def open_candle(
    seed: int, exchange: str, asset_id: str, interval_s: int, now_s: int
) -> CandleArrays | None:
    """The candle containing ``now_s`` with its values so far, or None on an exact boundary."""
    rel = now_s - EPOCH0_S
    hour_i, elapsed = divmod(rel, HOUR)
    if interval_s == HOUR:
        if elapsed == 0:
            return None
        return partial_hour(seed, exchange, asset_id, hour_i, elapsed)
    day_i, day_elapsed = divmod(rel, DAY)
    if day_elapsed == 0:
        return None
    parts: list[CandleArrays] = []
    first_hour = day_i * 24
    if hour_i > first_hour:
        parts.append(hourly_candles(seed, exchange, asset_id, first_hour, hour_i))
    if elapsed:
        parts.append(partial_hour(seed, exchange, asset_id, hour_i, elapsed))
    hours = _concat(parts) if len(parts) > 1 else parts[0]
    return _aggregate_days(hours, 1, len(hours))


@dataclass(frozen=True, slots=True)
class Candle:
    """One candle as plain numbers (prices rounded to the exchange's tick)."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int
    is_closed: bool


def asset_for_symbol(exchange: str, symbol: str) -> Asset | None:
    """The catalogue asset ``exchange`` spells ``symbol`` (any of its spellings), or None."""
    rules = _rules(exchange)
    return next((asset for asset in CATALOGUE if symbol in rules.symbols(asset)), None)


def compute_candle(
    exchange: str,
    symbol: str,
    interval: str | int,
    open_time: datetime | int,
    *,
    seed: int = 42,
    now: datetime | None = None,
) -> Candle:
    """The candle the simulator serves for (exchange, symbol, interval, open_time).

    ``interval`` is "1h"/"1d" or seconds (3600/86400, Kraken's 60/1440 minutes also work);
    ``open_time`` a datetime or epoch seconds. If ``now`` falls inside the candle the values
    are those of the still-open candle at ``now``. Nothing is served or recorded.
    """
    interval_s = {
        "1h": HOUR,
        "1d": DAY,
        60: HOUR,
        1440: DAY,
        "60": HOUR,
        "1440": DAY,
        HOUR: HOUR,
        DAY: DAY,
        "3600": HOUR,
        "86400": DAY,
    }[interval]
    asset = asset_for_symbol(exchange, symbol)
    if asset is None:
        raise ValueError(f"{exchange} does not list {symbol!r}")
    t = int(open_time.timestamp()) if isinstance(open_time, datetime) else int(open_time)
    i, rem = divmod(t - EPOCH0_S, interval_s)
    if rem:
        raise ValueError("open_time is not aligned to the interval")
    now_s = int(now.timestamp()) if now is not None else None
    arrays: CandleArrays | None
    closed = now_s is None or now_s >= t + interval_s
    if closed:
        arrays = closed_candles(seed, exchange, asset.asset_id, interval_s, i, i + 1)
    else:
        assert now_s is not None
        if now_s <= t:
            raise ValueError("candle has not opened yet at now")
        arrays = open_candle(seed, exchange, asset.asset_id, interval_s, now_s)
        assert arrays is not None
    dec = price_decimals(exchange, asset.asset_id)
    return Candle(
        open_time=t,
        open=round(float(arrays.open[0]), dec),
        high=round(float(arrays.high[0]), dec),
        low=round(float(arrays.low[0]), dec),
        close=round(float(arrays.close[0]), dec),
        volume=round(float(arrays.volume[0]), 8),
        trades=int(arrays.trades[0]),
        is_closed=closed,
    )


# ------------------------------------------------------------------------------ spot values


def usd_price_at(seed: int, asset_id: str, t_s: int) -> float:
    """Latent USD price at any second (log-linear between hour boundaries)."""
    i, rem = divmod(t_s - EPOCH0_S, HOUR)
    path = latent_log_usd(seed, asset_id)
    f = rem / HOUR
    return float(np.exp(path[i] * (1.0 - f) + path[i + 1] * f))


def usd_daily_closes(seed: int, asset_id: str, upto_s: int) -> np.ndarray:
    """Latent USD price at every midnight from EPOCH0 up to ``upto_s``."""
    n = (upto_s - EPOCH0_S) // DAY + 1
    return np.exp(latent_log_usd(seed, asset_id)[: n * 24 : 24])


def fear_greed_values(seed: int, n_days: int) -> np.ndarray:
    """Fear & Greed index (0..100) for day indices [0, n_days), driven by BTC momentum."""
    path = latent_log_usd(seed, "BTC")[: n_days * 24 : 24]  # BTC at each midnight
    days = np.arange(n_days)
    momentum = path - path[np.maximum(days - 14, 0)]  # 14-day log return up to that day
    noise = normal(stream_key(seed, "fng"), days)
    value = 50.0 + 180.0 * momentum + 8.0 * noise
    return np.clip(np.rint(value), 0, 100).astype(np.int64)
