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
from ingestion.simulator import fpmath
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
from ingestion.simulator.universe import BY_ID, CATALOGUE
from ingestion.simulator.universe import SimAsset as Asset


@dataclass(frozen=True, slots=True)
class ExchangeModel:
    """The synthetic market's parameters of one exchange.

    Its quote currency and symbols come from its connector module's description.
    """

    volume_share: float  # share of the asset's USD volume that trades there
    extra_tick_decimals: int = 0  # decimals its price tick has beyond six significant digits
    trade_size: float = 2500.0  # USD traded per trade, on average
    # It sends no candle for an interval without trades (Coinbase; see quiet_chance).
    omits_no_trade: bool = False


# The one table of exchange names in the synthetic market.
EXCHANGE_MODELS: dict[str, ExchangeModel] = {
    "binance": ExchangeModel(0.30, extra_tick_decimals=1, trade_size=2500.0 * 5.0),
    "kraken": ExchangeModel(0.03),
    "coinbase": ExchangeModel(0.10, omits_no_trade=True),
    "mercadobitcoin": ExchangeModel(0.004),
}
EXCHANGES = tuple(name for name, source in DESCRIPTIONS.items() if source.exchange is not None)

# Reference level (USD, around 2022) and circulating/max supply of each simulated asset.
ANCHOR_USD: dict[str, float] = {asset.asset_id: asset.anchor_usd for asset in CATALOGUE}
SUPPLY: dict[str, tuple[float, float | None]] = {a.asset_id: a.supply for a in CATALOGUE}
DAILY_USD_VOLUME = 0.04  # daily volume as a fraction of market cap
# The share of minutes without a trade of the thinnest pair of an exchange that omits
# such candles (SimulatorConfig.coinbase_no_trade_rate's default; see quiet_chance).
NO_TRADE_RATE = 0.05


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
    return fpmath.log(ANCHOR_USD[asset_id]) + path


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
        premium = 0.0125 + 0.0075 * fpmath.tanh(normal(stream_key(seed, "premium"), idx // 24))
        latent = latent + log_usdbrl_hourly(seed, idx) + fpmath.log(1.0 + premium)
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
    o = fpmath.exp(logp[:-1])
    c = fpmath.exp(logp[1:])
    sig = hour_sigma(asset_id)
    key_w = stream_key(seed, "wick", exchange, asset_id)
    up = np.abs(normal(key_w, hours)) * sig * 0.6
    dn = np.abs(normal(key_w ^ 0xA5A5, hours)) * sig * 0.6
    h = np.maximum(o, c) * fpmath.exp(up)
    low = np.minimum(o, c) * fpmath.exp(-dn)
    usd = fpmath.exp(latent_log_usd(seed, asset_id)[hours])
    cap = usd * SUPPLY[asset_id][0]
    activity = fpmath.exp(0.45 * normal(stream_key(seed, "vol", exchange, asset_id), hours))
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


def concat(parts: list[CandleArrays]) -> CandleArrays:
    """Consecutive candle arrays as one, oldest first."""
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


def aggregate(
    h: CandleArrays, n_groups: int, per_group: int, traded_only: bool = False
) -> CandleArrays:
    """Candles of ``per_group`` consecutive ``h`` candles each, as an exchange rolls its own up.

    First open, max high, min low, last close, summed volume and trades. With
    ``traded_only`` the prices come from the candles that traded (volume above zero) only,
    as Coinbase builds a candle from its trades: a group none of whose candles traded keeps
    volume 0 (it is not served, see :func:`traded`).
    """

    def shape(a: np.ndarray) -> np.ndarray:
        return a.reshape(n_groups, per_group)

    vol = shape(h.volume).sum(axis=1)
    taker = (shape(h.volume * h.taker_ratio).sum(axis=1)) / np.maximum(vol, 1e-300)
    o, high, low, c = (
        shape(h.open)[:, 0],
        shape(h.high).max(axis=1),
        shape(h.low).min(axis=1),
        shape(h.close)[:, -1],
    )
    if traded_only:
        did = shape(h.volume) > 0
        if not did.all():
            rows = np.arange(n_groups)
            first = did.argmax(axis=1)
            last = per_group - 1 - did[:, ::-1].argmax(axis=1)
            some = did.any(axis=1)
            o = np.where(some, shape(h.open)[rows, first], o)
            c = np.where(some, shape(h.close)[rows, last], c)
            high = np.where(some, np.where(did, shape(h.high), -np.inf).max(axis=1), high)
            low = np.where(some, np.where(did, shape(h.low), np.inf).min(axis=1), low)
    return CandleArrays(
        open_time=shape(h.open_time)[:, 0],
        open=o,
        high=high,
        low=low,
        close=c,
        volume=vol,
        trades=shape(h.trades).sum(axis=1),
        taker_ratio=taker,
    )


def traded(candles: CandleArrays) -> np.ndarray:
    """Which candles had a trade (volume above zero): Coinbase serves only those."""
    mask: np.ndarray = candles.volume > 0
    return mask


def _aggregate_days(h: CandleArrays, n_days: int, hours_per_day: int = 24) -> CandleArrays:
    return aggregate(h, n_days, hours_per_day)


def daily_candles(seed: int, exchange: str, asset_id: str, d0: int, d1: int) -> CandleArrays:
    """Closed daily candles for day indices [d0, d1): aggregates of the hourly candles."""
    return _aggregate_days(hourly_candles(seed, exchange, asset_id, d0 * 24, d1 * 24), d1 - d0)


MINUTE = 60
MINUTE_WICK = 0.15  # a minute's wick, as a share of the hour's sigma


def minute_candles(
    seed: int, exchange: str, asset_id: str, m0: int, m1: int, quiet: float = 0.0
) -> CandleArrays:
    """Closed 1-minute candles for minute indices [m0, m1) (minute 0 starts at EPOCH0).

    The minutes of an hour are a Brownian bridge from the hour's open to its close, kept
    inside the hour's low and high, with the hour's high and low each reached by one
    minute and its volume and trades split over the minutes: rolled up, the 60 minutes
    give back the hourly candle (volume up to float rounding), as a real exchange's do.

    ``quiet`` (0 = every minute trades) is the chance that a minute of average activity
    has no trade (see :func:`no_trade_minutes`): such a minute gets volume and trades 0
    and the hour's volume goes to the minutes that traded, so the traded minutes still
    roll up to the hourly candle.
    """
    h0, h1 = m0 // 60, -(-m1 // 60)
    hours = hourly_candles(seed, exchange, asset_id, h0, h1)
    n = h1 - h0
    idx = (np.arange(h0, h1, dtype=np.int64)[:, None] * 60) + np.arange(60, dtype=np.int64)
    flat = idx.ravel()
    sig = hour_sigma(asset_id)
    lo_, lc_ = fpmath.log(hours.open)[:, None], fpmath.log(hours.close)[:, None]
    lh, ll = fpmath.log(hours.high)[:, None], fpmath.log(hours.low)[:, None]
    steps = normal(stream_key(seed, "minute", exchange, asset_id), flat).reshape(n, 60)
    walk = np.concatenate([np.zeros((n, 1)), np.cumsum(steps, axis=1)], axis=1)
    frac = np.arange(61, dtype=np.float64)[None, :] / 60.0
    bridge = (walk - frac * walk[:, -1:]) * (sig / math.sqrt(60.0))
    line = lo_ + frac * (lc_ - lo_)
    room_up, room_dn = lh - line, line - ll  # both >= 0: the line lies within [low, high]
    with np.errstate(divide="ignore", invalid="ignore"):
        limit = np.where(bridge > 0, room_up / bridge, np.where(bridge < 0, room_dn / -bridge, 1))
    scale = np.clip(np.nan_to_num(limit, nan=1.0, posinf=1.0).min(axis=1, keepdims=True), 0, 1)
    path = fpmath.exp(line + 0.999 * scale * bridge)
    path[:, 0], path[:, -1] = hours.open, hours.close
    o, c = path[:, :-1], path[:, 1:]
    key_w = stream_key(seed, "minute-wick", exchange, asset_id)
    up = np.abs(normal(key_w, flat)).reshape(n, 60) * sig * MINUTE_WICK
    dn = np.abs(normal(key_w ^ 0xA5A5, flat)).reshape(n, 60) * sig * MINUTE_WICK
    high = np.minimum(np.maximum(o, c) * fpmath.exp(up), hours.high[:, None])
    low = np.maximum(np.minimum(o, c) * fpmath.exp(-dn), hours.low[:, None])
    rows = np.arange(n)
    high_at, low_at = high.argmax(axis=1), low.argmin(axis=1)
    high[rows, high_at] = hours.high
    low[rows, low_at] = hours.low
    weight = fpmath.exp(0.6 * normal(stream_key(seed, "minute-vol", exchange, asset_id), flat))
    weight = weight.reshape(n, 60)
    if quiet > 0.0:
        empty = no_trade_minutes(seed, exchange, asset_id, h0, h1, weight, quiet)
        empty[rows, high_at] = empty[rows, low_at] = False  # the hour's high and low traded,
        empty[:, 0] = empty[:, -1] = False  # and so were its open and its close
        weight = np.where(empty, 0.0, weight)
    share = np.cumsum(weight, axis=1) / weight.sum(axis=1, keepdims=True)
    share[:, -1] = 1.0
    volume = np.diff(np.concatenate([np.zeros((n, 1)), share], axis=1), axis=1)
    volume = volume * hours.volume[:, None]
    cum_trades = np.floor(share * hours.trades[:, None]).astype(np.int64)
    trades = np.diff(np.concatenate([np.zeros((n, 1), np.int64), cum_trades], axis=1), axis=1)
    first, last = m0 - h0 * 60, m1 - h0 * 60
    return CandleArrays(
        open_time=EPOCH0_S + flat[first:last] * MINUTE,
        open=o.ravel()[first:last],
        high=high.ravel()[first:last],
        low=low.ravel()[first:last],
        close=c.ravel()[first:last],
        volume=volume.ravel()[first:last],
        trades=trades.ravel()[first:last],
        taker_ratio=np.repeat(hours.taker_ratio, 60)[first:last],
    )


# Minute weights are lognormal with sigma 0.6 and hour activity with sigma 0.45 (see
# hourly_candles): dividing by their means makes a minute's activity 1 on average.
_MEAN_ACTIVITY = math.exp((0.6**2 + 0.45**2) / 2.0)
_ACTIVITY_SIGMA = math.sqrt(0.6**2 + 0.45**2)


def quiet_chance(exchange: str, asset_id: str, rate: float) -> float:
    """The chance that a minute of average activity of ``asset_id`` on ``exchange`` had no trade.

    0 on an exchange that sends every candle (``ExchangeModel.omits_no_trade``). ``rate`` is
    the share of minutes without a trade of the thinnest pair ``exchange``
    lists (the smallest market cap at the reference prices); a pair ``n`` times that cap
    trades ``n`` times as often. With the default rate the simulated LTC-USD and LINK-USD
    miss about one minute in 20, the mid caps a few in a thousand, BTC-USD and ETH-USD none
    (the real BTC-USD minutes in tests/fixtures/coinbase miss none either).
    """
    if rate <= 0.0 or not EXCHANGE_MODELS[exchange].omits_no_trade:
        return 0.0
    ratio = _anchor_cap(asset_id) / _thinnest_cap(exchange)
    return math.exp(-_trades_for_share(rate) * ratio)


@lru_cache(maxsize=16)
def _trades_for_share(share: float) -> float:
    """The mean trades of an average minute that leave ``share`` of the minutes without one.

    A minute's activity is lognormal with mean 1 (see :func:`no_trade_minutes`), so the
    share is the mean of exp(-mean trades * activity) over it (Gauss-Hermite quadrature);
    the four minutes an hour that always trade (its open, close, high and low) are
    allowed for. Solved by bisection on the log of the mean.
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(64)
    weights = weights / math.fsum(weights.tolist())
    activity = fpmath.exp(_ACTIVITY_SIGMA * nodes - _ACTIVITY_SIGMA**2 / 2.0)
    target = min(share * 60.0 / 56.0, 0.999)
    lo, hi = math.log(1e-9), math.log(1e9)
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if math.fsum((weights * fpmath.exp(-math.exp(mid) * activity)).tolist()) > target:
            lo = mid
        else:
            hi = mid
    # rounded: the quadrature's nodes come from LAPACK, whose last bits vary by CPU
    return round_sig(math.exp((lo + hi) / 2.0), 10)


def _anchor_cap(asset_id: str) -> float:
    return ANCHOR_USD[asset_id] * SUPPLY[asset_id][0]


@lru_cache(maxsize=8)
def _thinnest_cap(exchange: str) -> float:
    return min(_anchor_cap(a.asset_id) for a in CATALOGUE if a.symbol(exchange) is not None)


def no_trade_minutes(
    seed: int,
    exchange: str,
    asset_id: str,
    h0: int,
    h1: int,
    weight: np.ndarray,
    quiet: float,
) -> np.ndarray:
    """Which minutes of hours [h0, h1) had no trade, as an (hours, 60) boolean array.

    A minute's trades are Poisson with a mean proportional to its activity (the hour's
    activity times the minute's share ``weight``, 1 on average); ``quiet`` is the chance
    that a minute of average activity has none, so quiet hours and quiet minutes lose
    more minutes than busy ones. Drawn from its own seeded stream: the same seed leaves
    out the same minutes.
    """
    hours = np.arange(h0, h1, dtype=np.int64)
    activity = fpmath.exp(0.45 * normal(stream_key(seed, "vol", exchange, asset_id), hours))
    level = activity[:, None] * weight / _MEAN_ACTIVITY
    idx = (hours[:, None] * 60) + np.arange(60, dtype=np.int64)
    draw = uniform(stream_key(seed, "no-trade", exchange, asset_id), idx.ravel()).reshape(idx.shape)
    result: np.ndarray = draw < fpmath.exp(math.log(quiet) * level)
    return result


def partial_minute(
    seed: int, exchange: str, asset_id: str, m: int, elapsed_s: int, quiet: float = 0.0
) -> CandleArrays:
    """The still-open 1-minute candle ``m`` after ``elapsed_s`` seconds (0 < elapsed_s < 60).

    A minute without a trade (``quiet``, see :func:`minute_candles`) stays at volume 0.
    """
    full = minute_candles(seed, exchange, asset_id, m, m + 1, quiet)
    f = elapsed_s / MINUTE
    o, c = float(full.open[0]), float(full.close[0])
    close = math.exp(math.log(o) + f * (math.log(c) - math.log(o)))
    up = math.log(float(full.high[0]) / max(o, c))
    dn = math.log(min(o, c) / float(full.low[0]))
    return CandleArrays(
        open_time=full.open_time,
        open=full.open,
        high=np.array([max(o, close) * math.exp(up * f)]),
        low=np.array([min(o, close) * math.exp(-dn * f)]),
        close=np.array([close]),
        volume=full.volume * f,
        trades=(full.trades * f).astype(np.int64),
        taker_ratio=full.taker_ratio,
    )


# The intervals the simulated markets have, in seconds: what any exchange may serve
# (1m, 5m, 15m, 1h, 3h, 4h, 6h, 1d). Each divides the next hour or day evenly.
INTERVALS_S = (60, 300, 900, HOUR, 3 * HOUR, 4 * HOUR, 6 * HOUR, DAY)


def closed_candles(
    seed: int,
    exchange: str,
    asset_id: str,
    interval_s: int,
    i0: int,
    i1: int,
    quiet: float = 0.0,
) -> CandleArrays:
    """Closed candles with indices [i0, i1) of the given interval (one of INTERVALS_S).

    ``quiet`` leaves minutes without a trade (see :func:`minute_candles`): candles below
    an hour are then built from the minutes that traded (volume 0 where none did); an
    hour always has trades.
    """
    if interval_s == HOUR:
        return hourly_candles(seed, exchange, asset_id, i0, i1)
    if interval_s == DAY:
        return daily_candles(seed, exchange, asset_id, i0, i1)
    if interval_s == MINUTE:
        return minute_candles(seed, exchange, asset_id, i0, i1, quiet)
    if interval_s not in INTERVALS_S:
        raise ValueError(f"unsupported interval {interval_s}")
    if interval_s < HOUR:
        k = interval_s // MINUTE
        minutes = minute_candles(seed, exchange, asset_id, i0 * k, i1 * k, quiet)
        return aggregate(minutes, i1 - i0, k, traded_only=quiet > 0.0)
    k = interval_s // HOUR
    return aggregate(hourly_candles(seed, exchange, asset_id, i0 * k, i1 * k), i1 - i0, k)


def open_candle(
    seed: int, exchange: str, asset_id: str, interval_s: int, now_s: int, quiet: float = 0.0
) -> CandleArrays | None:
    """The candle containing ``now_s`` with its values so far, or None on an exact boundary.

    With ``quiet`` (see :func:`closed_candles`) a candle below an hour whose minutes so far
    had no trade has volume 0.
    """
    if interval_s not in INTERVALS_S:
        raise ValueError(f"unsupported interval {interval_s}")
    rel = now_s - EPOCH0_S
    start_i, start_elapsed = divmod(rel, interval_s)
    if start_elapsed == 0:
        return None
    if interval_s < HOUR:  # closed minutes of the candle, then the minute still open
        minute_i, elapsed = divmod(rel, MINUTE)
        first_minute = start_i * (interval_s // MINUTE)
        parts: list[CandleArrays] = []
        if minute_i > first_minute:
            parts.append(minute_candles(seed, exchange, asset_id, first_minute, minute_i, quiet))
        if elapsed:
            parts.append(partial_minute(seed, exchange, asset_id, minute_i, elapsed, quiet))
        minutes = concat(parts) if len(parts) > 1 else parts[0]
        return aggregate(minutes, 1, len(minutes), traded_only=quiet > 0.0)
    hour_i, elapsed = divmod(rel, HOUR)
    if interval_s == HOUR:
        return partial_hour(seed, exchange, asset_id, hour_i, elapsed)
    parts = []
    first_hour = start_i * (interval_s // HOUR)
    if hour_i > first_hour:
        parts.append(hourly_candles(seed, exchange, asset_id, first_hour, hour_i))
    if elapsed:
        parts.append(partial_hour(seed, exchange, asset_id, hour_i, elapsed))
    hours = concat(parts) if len(parts) > 1 else parts[0]
    return aggregate(hours, 1, len(hours))


_LABEL_SECONDS = {"1m": 60, "5m": 300, "15m": 900, "1h": HOUR, "4h": 4 * HOUR, "1d": DAY}
_KRAKEN_MINUTES = {60: HOUR, 240: 4 * HOUR, 1440: DAY}


def _interval_seconds(interval: str | int) -> int:
    if isinstance(interval, str) and interval in _LABEL_SECONDS:
        return _LABEL_SECONDS[interval]
    number = int(interval)
    if number in _KRAKEN_MINUTES:
        return _KRAKEN_MINUTES[number]
    if number in INTERVALS_S:
        return number
    raise KeyError(interval)


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
    """The simulated asset ``exchange`` spells ``symbol`` (any of its spellings), or None."""
    return next((asset for asset in CATALOGUE if symbol in asset.names(exchange)), None)


def compute_candle(
    exchange: str,
    symbol: str,
    interval: str | int,
    open_time: datetime | int,
    *,
    seed: int = 42,
    now: datetime | None = None,
    no_trade_rate: float = NO_TRADE_RATE,
) -> Candle:
    """The candle the simulator serves for (exchange, symbol, interval, open_time).

    ``interval`` is a label ("1m" … "1d") or seconds (60 … 86400); Kraken's 60, 240 and
    1440 minutes also work (so 60 means an hour: a minute is "1m");
    ``open_time`` a datetime or epoch seconds. If ``now`` falls inside the candle the values
    are those of the still-open candle at ``now``. ``no_trade_rate`` is the simulator's
    ``coinbase_no_trade_rate``. Nothing is served or recorded.

    Raises:
        ValueError: ``exchange`` does not list ``symbol``, ``open_time`` is not aligned or
            not open yet at ``now``, or the simulator serves no such candle (a Coinbase
            interval without trades).
    """
    interval_s = _interval_seconds(interval)
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
    quiet = quiet_chance(exchange, asset.asset_id, no_trade_rate)
    if closed:
        arrays = closed_candles(seed, exchange, asset.asset_id, interval_s, i, i + 1, quiet)
    else:
        assert now_s is not None
        if now_s <= t:
            raise ValueError("candle has not opened yet at now")
        arrays = open_candle(seed, exchange, asset.asset_id, interval_s, now_s, quiet)
        assert arrays is not None
    if quiet > 0.0 and not traded(arrays)[0]:
        raise ValueError(f"{exchange} sends no candle for {symbol} then: no trade in it")
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
    return float(fpmath.exp(path[i] * (1.0 - f) + path[i + 1] * f))


def usd_daily_closes(seed: int, asset_id: str, upto_s: int) -> np.ndarray:
    """Latent USD price at every midnight from EPOCH0 up to ``upto_s``."""
    n = (upto_s - EPOCH0_S) // DAY + 1
    return fpmath.exp(latent_log_usd(seed, asset_id)[: n * 24 : 24])


def fear_greed_values(seed: int, n_days: int) -> np.ndarray:
    """Fear & Greed index (0..100) for day indices [0, n_days), driven by BTC momentum."""
    path = latent_log_usd(seed, "BTC")[: n_days * 24 : 24]  # BTC at each midnight
    days = np.arange(n_days)
    momentum = path - path[np.maximum(days - 14, 0)]  # 14-day log return up to that day
    noise = normal(stream_key(seed, "fng"), days)
    value = 50.0 + 180.0 * momentum + 8.0 * noise
    return np.clip(np.rint(value), 0, 100).astype(np.int64)
