"""Technical indicators of one candle series, computed with pandas.

These are the recursive ones, which SQL expresses badly. Every indicator here is a function
of the close prices only, in candle order:

* **RSI(14)**, Wilder's: the first average gain (loss) is the plain mean of the first 14
  changes, every later one ``(previous * 13 + current) / 14`` — an exponential average with
  ``alpha = 1/14``. RSI = 100 - 100 / (1 + average gain / average loss); 100 when the
  average loss is zero, 50 when nothing moved at all.
* **MACD(12, 26, 9)**: EMA(12) - EMA(26) of the close (``alpha = 2 / (span + 1)``, seeded with
  the first close, i.e. pandas ``ewm(span, adjust=False)``), its signal line the EMA(9) of
  the MACD line, the histogram the difference.
* **EWMA volatility**, RiskMetrics (J.P. Morgan/Reuters, 1996) with lambda = 0.94:
  ``variance_t = lambda * variance_(t-1) + (1 - lambda) * r_t ** 2`` on log returns ``r``,
  seeded with the first squared return. The value on a candle uses its own return: it is
  the estimate made at that close (RiskMetrics' forecast for the next period), no look-ahead.
* **Bollinger bands (20, 2)**: the 20-close mean plus and minus two population standard
  deviations (Bollinger's definition) of the same 20 closes.
* **Running drawdown**: close / highest close so far - 1.

**Incremental, exactly.** Each recursion's state after a candle is stored on that candle's
row (:class:`State`). :func:`compute` continued from the state of the last unchanged row
performs, step by step, the same floating-point operations a full recompute performs, so
the result is identical, not merely close (tests compare bit for bit). The only
non-recursive indicator, Bollinger, needs the 19 closes before the first new candle
(``history``); each window is computed on its own, never from a running sum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

RSI_PERIOD = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
RISKMETRICS_LAMBDA = 0.94
BOLLINGER_PERIOD = 20
BOLLINGER_WIDTH = 2.0
# Crypto trades around the clock: a year is 8760 hourly or 365 daily candles.
PERIODS_PER_YEAR = {"1h": 24 * 365, "1d": 365}

# The columns compute() returns, in order (the mart adds keys, close and bookkeeping).
INDICATOR_COLUMNS = (
    "log_return",
    "rsi_avg_gain",
    "rsi_avg_loss",
    "rsi_14",
    "ema_12",
    "ema_26",
    "macd",
    "macd_signal",
    "macd_histogram",
    "ewma_variance",
    "ewma_volatility",
    "ewma_volatility_annualized",
    "bollinger_middle",
    "bollinger_upper",
    "bollinger_lower",
    "running_peak_close",
    "drawdown",
)


@dataclass(frozen=True)
class State:
    """What the recursions carry from one candle to the next.

    It is the stored row of the last candle before the ones to compute. ``rsi_avg_gain`` is
    None while RSI is warming up (fewer than 14 changes seen): such a state cannot be
    continued from.
    """

    close: float
    rsi_avg_gain: float | None
    rsi_avg_loss: float | None
    ema_12: float
    ema_26: float
    macd_signal: float
    ewma_variance: float | None  # None on a series' first candle (no return yet)
    running_peak_close: float

    @property
    def resumable(self) -> bool:
        """Whether an incremental compute can continue from this state (RSI is warmed up)."""
        return _known(self.rsi_avg_gain) is not None and _known(self.rsi_avg_loss) is not None


def _known(value: float | None) -> float | None:
    """None for a missing value, whether it came from SQL (None) or pandas (NaN)."""
    return None if value is None or math.isnan(value) else value


def ewm_from(values: np.ndarray, alpha: float, seed: float | None = None) -> np.ndarray:
    """The recursion ``s_t = (1 - alpha) * s_(t-1) + alpha * x_t`` over ``values``.

    With no seed it starts at ``values[0]`` (pandas ``ewm(alpha, adjust=False)``); with a
    seed, ``s_(-1) = seed``: the continuation of an earlier run, computed with the very
    same operations.
    """
    if seed is None:
        if len(values) == 0:
            return np.empty(0)
        return pd.Series(values).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    series = np.concatenate([[seed], values])
    return pd.Series(series).ewm(alpha=alpha, adjust=False).mean().to_numpy()[1:]


def _span_alpha(span: int) -> float:
    return 2.0 / (span + 1.0)


def wilder_averages(
    changes: np.ndarray, state: State | None, period: int = RSI_PERIOD
) -> tuple[np.ndarray, np.ndarray]:
    """Wilder's average gain and loss after each change (NaN while warming up).

    ``changes[i]`` is close_i - close_(i-1); without a state ``changes[0]`` is NaN (the
    series' first candle has no change).
    """
    gains = np.where(np.isnan(changes), np.nan, np.clip(changes, 0, None))
    losses = np.where(np.isnan(changes), np.nan, np.clip(-changes, 0, None))
    avg_gain = np.full(len(changes), np.nan)
    avg_loss = np.full(len(changes), np.nan)
    alpha = 1.0 / period
    if state is not None and state.resumable:
        avg_gain[:] = ewm_from(gains, alpha, state.rsi_avg_gain)
        avg_loss[:] = ewm_from(losses, alpha, state.rsi_avg_loss)
        return avg_gain, avg_loss
    # From the start: changes[1 : period + 1] seed the averages with their plain mean.
    if len(changes) <= period:
        return avg_gain, avg_loss
    seed_gain = float(np.mean(gains[1 : period + 1]))
    seed_loss = float(np.mean(losses[1 : period + 1]))
    avg_gain[period] = seed_gain
    avg_loss[period] = seed_loss
    avg_gain[period + 1 :] = ewm_from(gains[period + 1 :], alpha, seed_gain)
    avg_loss[period + 1 :] = ewm_from(losses[period + 1 :], alpha, seed_loss)
    return avg_gain, avg_loss


def rsi_from_averages(avg_gain: np.ndarray, avg_loss: np.ndarray) -> np.ndarray:
    """RSI from Wilder's average gains and losses: 100 when only gains, 50 when nothing moved."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    rsi = np.where((avg_loss == 0) & (avg_gain > 0), 100.0, rsi)
    return np.where((avg_loss == 0) & (avg_gain == 0), 50.0, rsi)


def ewma_variance(
    returns: np.ndarray, lam: float = RISKMETRICS_LAMBDA, seed: float | None = None
) -> np.ndarray:
    """RiskMetrics' ``variance_t = lam * variance_(t-1) + (1 - lam) * r_t ** 2``.

    Without a seed the first value is the first squared return. NaN returns (a series'
    first candle) stay NaN and are skipped.
    """
    squared = returns**2
    out = np.full(len(returns), np.nan)
    known = ~np.isnan(squared)
    out[known] = ewm_from(squared[known], 1.0 - lam, seed)
    return out


def bollinger(
    closes: np.ndarray, n_new: int, period: int = BOLLINGER_PERIOD, width: float = BOLLINGER_WIDTH
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Middle, upper and lower band of the last ``n_new`` closes; each window reduced on its own.

    ``closes`` holds up to ``period - 1`` closes before the new ones, so their windows are full.
    """
    middle = np.full(len(closes), np.nan)
    spread = np.full(len(closes), np.nan)
    if len(closes) >= period:
        windows = np.lib.stride_tricks.sliding_window_view(closes, period)
        middle[period - 1 :] = windows.mean(axis=1)
        spread[period - 1 :] = width * windows.std(axis=1, ddof=0)
    middle, spread = middle[-n_new:], spread[-n_new:]
    return middle, middle + spread, middle - spread


def compute(
    closes: pd.Series,
    interval: str,
    state: State | None = None,
    history: Sequence[float] = (),
) -> pd.DataFrame:
    """Indicators of ``closes`` (float, in candle order, indexed by open time).

    ``state`` is the stored state of the candle just before ``closes[0]`` (None: the
    series starts at ``closes[0]``); ``history`` the closes before ``closes[0]``, oldest
    first (Bollinger uses the last ``BOLLINGER_PERIOD - 1``). Returns one row per close
    with :data:`INDICATOR_COLUMNS`.
    """
    if interval not in PERIODS_PER_YEAR:
        raise ValueError(
            f"unknown interval {interval!r}; expected one of {sorted(PERIODS_PER_YEAR)}"
        )
    if state is not None and not state.resumable:
        raise ValueError("the state is still warming up RSI: recompute the series from its start")
    values = closes.to_numpy(dtype=float)
    if len(values) == 0:
        return pd.DataFrame(columns=list(INDICATOR_COLUMNS), index=closes.index, dtype=float)
    if np.isnan(values).any() or (values <= 0).any():
        raise ValueError("close prices must be positive numbers")
    previous = np.concatenate([[state.close if state else np.nan], values[:-1]])
    changes = values - previous
    with np.errstate(invalid="ignore"):
        log_return = np.log(values / previous)

    avg_gain, avg_loss = wilder_averages(changes, state)
    ema_fast = ewm_from(values, _span_alpha(MACD_FAST), state.ema_12 if state else None)
    ema_slow = ewm_from(values, _span_alpha(MACD_SLOW), state.ema_26 if state else None)
    macd = ema_fast - ema_slow
    signal = ewm_from(macd, _span_alpha(MACD_SIGNAL), state.macd_signal if state else None)
    variance = ewma_variance(log_return, seed=_known(state.ewma_variance) if state else None)
    window = [*history[-(BOLLINGER_PERIOD - 1) :]] if history else []
    middle, upper, lower = bollinger(np.concatenate([window, values]), len(values))
    peak = np.maximum.accumulate(
        np.concatenate([[state.running_peak_close], values]) if state else values
    )
    peak = peak[1:] if state else peak

    frame = pd.DataFrame(
        {
            "log_return": log_return,
            "rsi_avg_gain": avg_gain,
            "rsi_avg_loss": avg_loss,
            "rsi_14": rsi_from_averages(avg_gain, avg_loss),
            "ema_12": ema_fast,
            "ema_26": ema_slow,
            "macd": macd,
            "macd_signal": signal,
            "macd_histogram": macd - signal,
            "ewma_variance": variance,
            "ewma_volatility": np.sqrt(variance),
            "ewma_volatility_annualized": np.sqrt(variance * PERIODS_PER_YEAR[interval]),
            "bollinger_middle": middle,
            "bollinger_upper": upper,
            "bollinger_lower": lower,
            "running_peak_close": peak,
            "drawdown": values / peak - 1.0,
        },
        index=closes.index,
    )
    return frame[list(INDICATOR_COLUMNS)]
