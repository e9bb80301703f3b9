"""Provider calendars: which days a daily series publishes a value.

Frankfurter serves the ECB's reference rates: business days only (no weekends, no TARGET
closing days). The FX planner requires exactly those days of a page, the gap sensor looks
for exactly those, and the simulator serves exactly those.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache


def _easter(year: int) -> date:
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=64)
def target_holidays(year: int) -> frozenset[date]:
    """TARGET2 closing days: 1 Jan, Good Friday, Easter Monday, 1 May, 25 and 26 Dec."""
    easter = _easter(year)
    return frozenset(
        {
            date(year, 1, 1),
            easter - timedelta(days=2),
            easter + timedelta(days=1),
            date(year, 5, 1),
            date(year, 12, 25),
            date(year, 12, 26),
        }
    )


def is_ecb_business_day(d: date) -> bool:
    """Whether the ECB publishes reference rates on ``d``: a weekday that is no TARGET holiday."""
    return d.weekday() < 5 and d not in target_holidays(d.year)
