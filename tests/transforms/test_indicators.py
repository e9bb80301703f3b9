"""The indicator maths against published worked examples and their definitions (no database)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from orchestration import indicators

# StockCharts ChartSchool, "Relative Strength Index (RSI)", the worked example of Wilder's
# RSI(14) (its spreadsheet cs-rsi.xls): 33 daily closes. Source:
# https://chartschool.stockcharts.com/table-of-contents/technical-indicators-and-overlays/
#   technical-indicators/relative-strength-index-rsi
# The article's table rounds the first averages to two decimals (0.24 / 0.10) before going
# on, so it prints 70.53, 66.32, ...; computed at full precision, as Wilder's method is
# defined, the same closes give the values below (to two decimals), which independent
# implementations (TA-Lib among them) agree on.
STOCKCHARTS_CLOSES = [
    44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03,
    45.61, 46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45,
    45.78, 45.35, 44.03, 44.18, 44.22, 44.57, 43.42, 42.66, 43.13,
]  # fmt: skip
STOCKCHARTS_RSI = [
    70.46, 66.25, 66.48, 69.35, 66.29, 57.92, 62.88, 63.21, 56.01, 62.34, 54.67, 50.39,
    40.02, 41.49, 41.90, 45.50, 37.32, 33.09, 37.79,
]  # fmt: skip


def _series(values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2024-01-01", periods=len(values), tz="UTC"))


def test_wilder_rsi_matches_the_stockcharts_worked_example() -> None:
    frame = indicators.compute(_series(STOCKCHARTS_CLOSES), "1d")
    assert frame["rsi_14"].iloc[:14].isna().all()  # 14 changes are needed first
    assert frame["rsi_14"].iloc[14:].round(2).tolist() == STOCKCHARTS_RSI
    # the first averages are the plain means of the first 14 gains and losses
    changes = np.diff(STOCKCHARTS_CLOSES[:15])
    assert frame["rsi_avg_gain"].iloc[14] == pytest.approx(changes[changes > 0].sum() / 14)
    assert frame["rsi_avg_loss"].iloc[14] == pytest.approx(-changes[changes < 0].sum() / 14)
    # then Wilder's smoothing: (previous * 13 + current) / 14
    gain_15 = max(STOCKCHARTS_CLOSES[15] - STOCKCHARTS_CLOSES[14], 0)
    expected = (frame["rsi_avg_gain"].iloc[14] * 13 + gain_15) / 14
    assert frame["rsi_avg_gain"].iloc[15] == pytest.approx(expected, rel=1e-12)


def test_rsi_limits() -> None:
    rising = indicators.compute(_series([float(i) for i in range(1, 30)]), "1d")
    assert (rising["rsi_14"].dropna() == 100).all()
    flat = indicators.compute(_series([5.0] * 20), "1d")
    assert (flat["rsi_14"].dropna() == 50).all()
    falling = indicators.compute(_series([float(i) for i in range(40, 10, -1)]), "1d")
    assert (falling["rsi_14"].dropna() == 0).all()


def test_ewma_variance_matches_hulls_riskmetrics_example() -> None:
    # J. C. Hull, "Options, Futures, and Other Derivatives" (EWMA model, the chapter on
    # volatility): lambda = 0.90, yesterday's volatility 1% a day, yesterday's return 2%:
    # sigma_n^2 = 0.9 * 0.0001 + 0.1 * 0.0004 = 0.00013, i.e. 1.14% a day.
    variance = indicators.ewma_variance(np.array([0.02]), lam=0.90, seed=0.01**2)
    assert variance[0] == pytest.approx(0.00013)
    assert math.sqrt(variance[0]) == pytest.approx(0.0114, abs=5e-5)


def test_riskmetrics_volatility_uses_lambda_094_on_log_returns() -> None:
    closes = [100.0, 102.0, 99.0, 101.0]
    frame = indicators.compute(_series(closes), "1d")
    r = np.log(np.array(closes[1:]) / np.array(closes[:-1]))
    var = r[0] ** 2  # seeded with the first squared return
    for value in r[1:]:
        var = 0.94 * var + 0.06 * value**2
    assert math.isnan(frame["ewma_variance"].iloc[0])
    assert frame["ewma_variance"].iloc[-1] == pytest.approx(var, rel=1e-12)
    assert frame["ewma_volatility_annualized"].iloc[-1] == pytest.approx(
        math.sqrt(var * 365), rel=1e-12
    )
    hourly = indicators.compute(_series(closes), "1h")
    assert hourly["ewma_volatility_annualized"].iloc[-1] == pytest.approx(
        math.sqrt(var * 8760), rel=1e-12
    )


def test_macd_is_the_difference_of_two_emas_and_its_signal() -> None:
    closes = [float(c) for c in STOCKCHARTS_CLOSES]
    frame = indicators.compute(_series(closes), "1d")

    def ema(values: list[float], span: int) -> list[float]:  # the textbook recursion
        alpha, out = 2 / (span + 1), [values[0]]
        for value in values[1:]:
            out.append(alpha * value + (1 - alpha) * out[-1])
        return out

    fast, slow = ema(closes, 12), ema(closes, 26)
    macd = [f - s for f, s in zip(fast, slow, strict=True)]
    signal = ema(macd, 9)
    np.testing.assert_allclose(frame["ema_12"], fast, rtol=1e-12)
    np.testing.assert_allclose(frame["macd"], macd, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(frame["macd_signal"], signal, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(frame["macd_histogram"], np.subtract(macd, signal), atol=1e-12)


def test_bollinger_bands_use_the_population_deviation_of_20_closes() -> None:
    frame = indicators.compute(_series([float(i) for i in range(1, 22)]), "1d")
    assert frame["bollinger_middle"].iloc[:19].isna().all()
    # closes 1..20: mean 10.5, population standard deviation sqrt((20^2 - 1) / 12)
    sd = math.sqrt((20**2 - 1) / 12)
    assert frame["bollinger_middle"].iloc[19] == pytest.approx(10.5)
    assert frame["bollinger_upper"].iloc[19] == pytest.approx(10.5 + 2 * sd)
    assert frame["bollinger_lower"].iloc[19] == pytest.approx(10.5 - 2 * sd)
    assert frame["bollinger_middle"].iloc[20] == pytest.approx(11.5)


def test_running_drawdown() -> None:
    frame = indicators.compute(_series([10.0, 12.0, 9.0, 6.0, 13.0, 12.35]), "1d")
    assert frame["running_peak_close"].tolist() == [10, 12, 12, 12, 13, 13]
    assert frame["drawdown"].round(4).tolist() == [0, 0, -0.25, -0.5, 0, -0.05]


def _state(frame: pd.DataFrame, closes: list[float], at: int) -> indicators.State:
    row = frame.iloc[at]
    return indicators.State(
        close=closes[at],
        rsi_avg_gain=row["rsi_avg_gain"],
        rsi_avg_loss=row["rsi_avg_loss"],
        ema_12=row["ema_12"],
        ema_26=row["ema_26"],
        macd_signal=row["macd_signal"],
        ewma_variance=row["ewma_variance"],
        running_peak_close=row["running_peak_close"],
    )


@pytest.mark.parametrize("split", [15, 16, 40, 199])
def test_continuing_from_a_stored_state_equals_the_full_recompute_bit_for_bit(split: int) -> None:
    rng = np.random.default_rng(7)
    closes = list(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200))))
    full = indicators.compute(_series(closes), "1h")
    state = _state(full, closes, split - 1)
    tail = indicators.compute(_series(closes)[split:], "1h", state=state, history=closes[:split])
    pd.testing.assert_frame_equal(tail, full.iloc[split:], check_exact=True)


def test_a_warming_up_state_cannot_be_continued() -> None:
    closes = [float(c) for c in STOCKCHARTS_CLOSES]
    full = indicators.compute(_series(closes), "1d")
    with pytest.raises(ValueError, match="warming up"):
        indicators.compute(_series(closes)[10:], "1d", state=_state(full, closes, 9))
    with pytest.raises(ValueError, match="warming up"):  # 13 changes seen: RSI not seeded
        indicators.compute(_series(closes)[14:], "1d", state=_state(full, closes, 13))


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        indicators.compute(_series([1.0, 0.0, 2.0]), "1d")
    with pytest.raises(ValueError, match="interval"):
        indicators.compute(_series([1.0]), "5m")
