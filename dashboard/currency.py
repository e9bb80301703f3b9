"""The display currency: prices converted at the rate in force at each point in time.

Every price the marts hold is in a quote currency (USD, USDT, BRL, …) at an instant: a
candle's close, a snapshot's time, a day's end. To show it in the display currency it is
converted at the USD rates in force *at that instant* (``fct_fx_rates_hourly``, on the
instant's hour, floored: the newest ECB rate available then, never one published later):

    value in display = value in quote / (USD→quote rate) * (USD→display rate)

with USD, USDT and USDC counted as USD (rate 1). A value whose instant has no rate yet
(before the first rate) gets no converted value (NaN), never a guessed one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from dashboard import data

BASE = "USD"
USD_LIKE = frozenset({"USD", "USDT", "USDC"})
SYMBOLS = {"USD": "$", "BRL": "R$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def display_currencies() -> tuple[str, ...]:
    """USD first, then every currency the warehouse has USD rates for."""
    return (BASE, *(c for c in data.fx_currencies() if c not in USD_LIKE))


def symbol(currency: str) -> str:
    """The sign written before an amount in ``currency`` ("$", "R$", ...), or "" if it has none."""
    return SYMBOLS.get(currency, "")


def hours(instants: pd.Series) -> pd.Series:
    """Each instant's whole UTC hour (floored, so the rate looked up is never later)."""
    return pd.to_datetime(instants, utc=True).dt.floor("h")


def usd_rates(currency: str, instants: pd.Series) -> pd.Series:
    """USD→``currency`` in force at each instant (1.0 for USD and USD-like quotes)."""
    if currency in USD_LIKE:
        return pd.Series(1.0, index=instants.index)
    floored = hours(instants)
    wanted = tuple(t.to_pydatetime() for t in floored.dropna().unique())
    table = data.fx_rates_at(currency, wanted) if wanted else pd.DataFrame()
    if table.empty:
        return pd.Series(float("nan"), index=instants.index)
    by_hour = pd.Series(
        pd.to_numeric(table["rate"]).to_numpy(), index=pd.to_datetime(table["rate_at"], utc=True)
    )
    return floored.map(by_hour).astype(float)


RateLookup = Callable[[str, pd.Series], pd.Series]


def factors(
    currency: str,
    instants: pd.Series,
    quotes: pd.Series | str = BASE,
    rates: RateLookup = usd_rates,
) -> pd.Series:
    """What to multiply a value in ``quotes`` at ``instants`` by to get ``currency``.

    ``rates(c, instants)`` gives USD→c in force at each instant (the warehouse's, by
    default).
    """
    if isinstance(quotes, str):
        quotes = pd.Series(quotes, index=instants.index)
    quotes = quotes.str.upper()
    out = (
        pd.Series(1.0, index=instants.index)
        if currency in USD_LIKE
        else (rates(currency, instants).astype(float))
    )
    for quote in quotes.unique():
        if quote in USD_LIKE or quote == currency:
            continue
        rows = quotes == quote
        out[rows] = out[rows] / rates(quote, instants[rows]).astype(float)
    same = quotes == currency
    out[same] = 1.0
    return out


def convert(
    frame: pd.DataFrame,
    columns: Sequence[str],
    currency: str,
    at: pd.Series | None,
    quotes: pd.Series | str = BASE,
    rates: RateLookup = usd_rates,
) -> pd.DataFrame:
    """A copy of ``frame`` with ``columns`` in ``currency``, each row at the rates of its instant.

    Each row is converted at the rates in force at its instant ``at``; the factor used is kept
    in column ``fx_factor``. An empty frame (a mart not built yet: no columns, so ``at`` is
    None) comes back as is.
    """
    converted = frame.copy()
    if frame.empty or at is None:
        return converted
    factor = factors(currency, at, quotes, rates)
    for column in columns:
        converted[column] = pd.to_numeric(converted[column]) * factor
    converted["fx_factor"] = factor
    return converted
