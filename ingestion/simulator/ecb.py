"""Simulated ECB reference rates: daily FX paths against EUR and the publication calendar.

Rates are "units per EUR", one per calendar day, a mean-reverting walk around each
currency's anchor; they are published at 16:00 Frankfurt time on ECB business days (the
calendar is ingestion's own, :mod:`ingestion.calendars`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from ingestion.calendars import is_ecb_business_day
from ingestion.simulator import fpmath
from ingestion.simulator.streams import EPOCH0, N_DAYS, normal, ou_path, stream_key

# FX: ECB reference rates are quoted against EUR. Anchors are "units per EUR".
FX_ANCHOR_PER_EUR: dict[str, float] = {
    "EUR": 1.0,
    "USD": 1.09,
    "BRL": 5.6,
    "GBP": 0.86,
    "JPY": 155.0,
    "CHF": 0.96,
    "CAD": 1.47,
    "AUD": 1.64,
    "CNY": 7.8,
    "INR": 90.0,
    "MXN": 19.5,
    "KRW": 1450.0,
}
FX_DAILY_VOL = {"BRL": 0.008, "JPY": 0.005, "MXN": 0.007, "KRW": 0.005}
FX_CURRENCIES = tuple(sorted(FX_ANCHOR_PER_EUR))


def last_business_day(d: date) -> date:
    """The latest ECB business day on or before ``d``."""
    while not is_ecb_business_day(d):
        d -= timedelta(days=1)
    return d


ECB_TIMEZONE = ZoneInfo("Europe/Berlin")
ECB_PUBLICATION_TIME = time(16, 0)  # "around 16:00 CET" (CEST in summer)


def ecb_publication_at(d: date) -> datetime:
    """When the ECB reference rates of business day ``d`` are published (UTC)."""
    return datetime.combine(d, ECB_PUBLICATION_TIME, ECB_TIMEZONE).astimezone(UTC)


def latest_fixing(now: datetime) -> date:
    """The business day of the newest ECB rates published at ``now``."""
    day = now.astimezone(ECB_TIMEZONE).date()
    if now < ecb_publication_at(day):
        day -= timedelta(days=1)
    return last_business_day(day)


@lru_cache(maxsize=64)
def fx_log_per_eur(seed: int, currency: str) -> np.ndarray:
    """Log 'units of currency per EUR' for every calendar day from EPOCH0."""
    if currency == "EUR":
        return np.zeros(N_DAYS + 1)
    eps = normal(stream_key(seed, "fx", currency), np.arange(N_DAYS))
    path = ou_path(eps, sigma=FX_DAILY_VOL.get(currency, 0.004), theta=1.0 / 500.0)
    return fpmath.log(FX_ANCHOR_PER_EUR[currency]) + path


def day_index(d: date) -> int:
    """Days from the simulated market's first day (``EPOCH0``) to ``d``."""
    return (d - EPOCH0.date()).days


def fx_rate(seed: int, day: date, base: str, quote: str) -> float:
    """Units of ``quote`` per one ``base`` on calendar day ``day`` (unrounded)."""
    i = day_index(day)
    return float(fpmath.exp(fx_log_per_eur(seed, quote)[i] - fx_log_per_eur(seed, base)[i]))


def log_usdbrl_hourly(seed: int, idx: np.ndarray) -> np.ndarray:
    """Log of the USD→BRL rate at hour indexes ``idx`` (each hour takes its day's rates)."""
    days = idx // 24
    return fx_log_per_eur(seed, "BRL")[days] - fx_log_per_eur(seed, "USD")[days]
