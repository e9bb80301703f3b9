"""A chart never sends more than about 5,000 candles per trace: the interval coarsens."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from dashboard import data


@pytest.mark.parametrize(
    ("picked", "days", "shown"),
    [
        ("1m", 1, "1m"),  # 1,440 candles
        ("1m", 3, "1m"),  # 4,320
        ("1m", 4, "5m"),  # 5,760 minutes: 1,152 five-minute candles
        ("1m", 90, "1h"),  # 2,160 hours
        ("15m", 365, "4h"),  # 35,040 quarter hours, 8,760 hours: 2,190 four-hour candles
        ("1h", 600, "4h"),
        ("1d", 3650, "1d"),  # whatever the range, a day is the coarsest
        ("4h", 30, "4h"),  # never finer than picked
    ],
)
def test_the_chart_interval_keeps_a_trace_within_5000_points(
    picked: str, days: int, shown: str
) -> None:
    start = date(2025, 1, 1)
    assert data.chart_interval(picked, start, start + timedelta(days=days - 1)) == shown


def test_an_unknown_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="use one of 1m, 5m, 15m, 1h, 4h, 1d"):
        data.chart_interval("2h", date(2025, 1, 1), date(2025, 1, 2))
