"""How fast the pandas indicators step is: a full recompute of one series against the
incremental update of the newest day (24 hourly candles continued from the stored state).

Pure computation (orchestration/indicators.py), no database: what the asset adds on top is
one read and one COPY per changed series.

    uv run python benchmarks/bench_indicators.py [--candles 17520] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from orchestration import indicators


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=2 * 8760, help="hourly candles (2 years)")
    parser.add_argument("--new", type=int, default=24, help="candles of the incremental update")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(42)
    closes = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.004, args.candles)))
    index = pd.date_range("2024-01-01", periods=args.candles, freq="h", tz="UTC")
    series = pd.Series(closes, index=index)
    split = args.candles - args.new
    full = indicators.compute(series, "1h")
    row = full.iloc[split - 1]
    state = indicators.State(
        close=float(closes[split - 1]),
        rsi_avg_gain=row["rsi_avg_gain"],
        rsi_avg_loss=row["rsi_avg_loss"],
        ema_12=row["ema_12"],
        ema_26=row["ema_26"],
        macd_signal=row["macd_signal"],
        ewma_variance=row["ewma_variance"],
        running_peak_close=row["running_peak_close"],
    )
    history = list(closes[:split])
    tail = indicators.compute(series.iloc[split:], "1h", state, history)
    assert tail.equals(full.iloc[split:]), "incremental differs from the full recompute"

    full_s = _best(lambda: indicators.compute(series, "1h"), args.repeat)
    tail_s = _best(lambda: indicators.compute(series.iloc[split:], "1h", state, history),
                   args.repeat)  # fmt: skip
    print(f"full recompute: {args.candles:,} candles in {full_s * 1000:.1f} ms "
          f"({args.candles / full_s:,.0f} candles/s)")  # fmt: skip
    print(f"incremental:    {args.new} new candles in {tail_s * 1000:.2f} ms "
          f"(identical to the full recompute's last {args.new} rows)")  # fmt: skip
    print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
