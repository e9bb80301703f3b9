"""Candle intervals: the labels criptopipe uses, their lengths, and their SQL.

Every candle table stores criptopipe's label (``1m`` … ``1d``), whatever the API calls
the interval (Kraken minutes, Coinbase granularity seconds, Binance and Mercado Bitcoin
labels); each connector maps the labels it serves to its API's spelling.
"""

from __future__ import annotations

# Finest first: the marts roll an interval an exchange lacks up from the finest loaded one.
INTERVAL_SECONDS: dict[str, int] = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3600,
    "4h": 14400,
    "1d": 86400,
}
CANDLE_INTERVALS: tuple[str, ...] = tuple(INTERVAL_SECONDS)


def check_intervals(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``values`` without duplicates, in the order given.

    Raises:
        ValueError: a label is not a candle interval (it is named), or there is none.
    """
    bad = [v for v in values if v not in INTERVAL_SECONDS]
    if bad:
        raise ValueError(
            f"unsupported candle interval(s) {bad}; use any of {', '.join(CANDLE_INTERVALS)}"
        )
    if not values:
        raise ValueError(f"no candle interval given; use any of {', '.join(CANDLE_INTERVALS)}")
    return tuple(dict.fromkeys(values))


def interval_sql(column: str = "{col}") -> str:
    """A SQL ``case`` giving the length of the interval label in ``column``.

    By default it is a psycopg ``sql.SQL`` format string: ``{col}`` is filled with an
    identifier.
    """
    whens = " ".join(
        f"when '{label}' then interval '{seconds} seconds'"
        for label, seconds in INTERVAL_SECONDS.items()
    )
    return f"case {column} {whens} end"
