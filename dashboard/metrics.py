"""Pure calculations behind the KPI tiles and summary tables (no Streamlit, no SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Kpi:
    """One KPI tile: a value, its change, and the time it is as of.

    Attributes:
        value: the latest value, None when the series is empty.
        delta: change against the comparison point, in the unit of ``value``.
        as_of: the newest time or date of the series, None when empty.
    """

    value: float | None
    delta: float | None  # change against the comparison point, same unit as value
    as_of: Any  # the newest time or date of the series (its "as of"), None when empty


def kpi(
    frame: pd.DataFrame,
    time_column: str,
    value_column: str,
    lookback: timedelta = timedelta(hours=24),
) -> Kpi:
    """The latest value and its change against the last value at least ``lookback`` older."""
    if time_column not in frame or value_column not in frame:
        return Kpi(None, None, None)
    rows = frame[[time_column, value_column]].dropna().sort_values(time_column)
    if rows.empty:
        return Kpi(None, None, None)
    last = rows.iloc[-1]
    cutoff = pd.Timestamp(last[time_column]) - lookback
    earlier = rows[pd.to_datetime(rows[time_column]) <= cutoff]
    delta = None if earlier.empty else float(last[value_column] - earlier.iloc[-1][value_column])
    return Kpi(float(last[value_column]), delta, last[time_column])


def _percent(fraction: float | None) -> float | None:
    """A fraction in %, or None where the mart has no value yet (NULL comes back as None)."""
    return None if fraction is None or pd.isna(fraction) else float(fraction) * 100


def drawdown_table(returns: pd.DataFrame) -> pd.DataFrame:
    """Per asset over the chosen days: latest close, return, current and worst drawdown, vol.

    Expects asset_id, price_date, close_price_usd, simple_return, drawdown,
    volatility_30d. Percentages are returned in % (not fractions).
    """
    rows = []
    for asset_id, group in returns.sort_values("price_date").groupby("asset_id", sort=True):
        last = group.iloc[-1]
        worst = group.loc[group["drawdown"].idxmin()] if group["drawdown"].notna().any() else None
        rows.append(
            {
                "asset_id": asset_id,
                "as_of": last["price_date"],
                "close_price_usd": last["close_price_usd"],
                "period_return_pct": ((1 + group["simple_return"].fillna(0)).prod() - 1) * 100,
                "current_drawdown_pct": _percent(last["drawdown"]),
                "max_drawdown_pct": None if worst is None else worst["drawdown"] * 100,
                "max_drawdown_date": None if worst is None else worst["price_date"],
                # null until 30 days of returns exist (a short history): shown empty
                "volatility_30d_pct": _percent(last["volatility_30d"]),
            }
        )
    table = pd.DataFrame(rows)
    return table.sort_values("max_drawdown_pct") if not table.empty else table


def format_money(value: float | None, symbol: str = "$", currency: str = "") -> str:
    """Format a KPI amount: $1.23T / R$45.6B / €789.0M / $12,345.68.

    A currency without a symbol gets its code after the number; a missing value is "-".
    """
    if value is None or pd.isna(value):
        return "-"
    suffix_code = f" {currency}" if currency and not symbol else ""
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if abs(value) >= size:
            return f"{symbol}{value / size:,.2f}{suffix}{suffix_code}"
    return f"{symbol}{value:,.2f}{suffix_code}"


def format_usd(value: float | None) -> str:
    """$1.23T / $45.6B / $789.0M / $12,345.68 for KPI tiles."""
    return format_money(value, "$")
