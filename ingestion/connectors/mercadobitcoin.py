"""Mercado Bitcoin v4: ``/tickers?symbols=…`` and ``/candles?symbol=…&resolution=…&from=&to=``.

The BRL market behind the "Brazil premium". Candles come as parallel arrays
``t, o, h, l, c, v`` (``t`` epoch seconds, prices as strings); ``from``/``to`` are epoch
seconds (open times, inclusive). We page by 1000 candles to keep bodies small.
Resolutions are 1m, 15m, 1h, 3h, 1d, 1w and 1M: there is no 5m or 4h candle (the marts
roll those up).

``/symbols`` is the listing, in the same parallel-array style (TradingView's UDF):
``{"symbol": [...], "base-currency": [...], "currency": [...], "exchange-listed": [...],
"exchange-traded": [...], ...}``; one record per symbol is zipped from the arrays. A pair
trades when it is both listed and traded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from itertools import chain, repeat
from typing import Any

from ingestion.connectors.base import (
    INTERVAL_SECONDS,
    EndpointSpec,
    Expected,
    InvalidRecord,
    KeyValue,
    ParseResult,
    PlanContext,
    PlannedRequest,
    Record,
    check_numbers,
    check_numeric,
    paged_windows,
    records_of,
    require_text,
    served_intervals,
    to_s,
    utc_from_seconds,
    valid_times,
)
from ingestion.connectors.source import Exchange, Source
from ingestion.connectors.tables import key
from ingestion.listings import Listing, text

SOURCE = "mercadobitcoin"
CANDLES_PAGE = 1000
# criptopipe's labels Mercado Bitcoin serves, under the same names (3h, 1w, 1M unused).
RESOLUTIONS = {label: label for label in ("1m", "15m", "1h", "1d")}
COLUMNS = ("t", "o", "h", "l", "c", "v")  # parse_candles' fast path spells them out too
CANDLE_NUMBERS = ("o", "h", "l", "c", "v")

DESCRIPTION = Source(
    name=SOURCE,
    title="Mercado Bitcoin v4",
    base_url="https://api.mercadobitcoin.net/api/v4",
    rate_limit=60,  # v4 public: 1 request a second per endpoint
    exchange=Exchange(
        quote_currency="BRL",
        name="Mercado Bitcoin",
        listing="symbols",
        read_listing=lambda key, record: read_listing(key, record),
        country_code="BR",
        website_url="https://www.mercadobitcoin.com.br",
    ),
)


def plan_tickers(ctx: PlanContext) -> list[PlannedRequest]:
    """One ticker request for every symbol Mercado Bitcoin lists; none when it lists none."""
    symbols = [
        str(a.symbol(SOURCE)) for a in ctx.skip(SOURCE, ctx.assets, lambda a: a.symbol(SOURCE))
    ]
    return [PlannedRequest("/tickers", {"symbols": ",".join(symbols)})] if symbols else []


def parse_tickers(
    path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParseResult:
    """Tickers, keyed by pair and their ``date``.

    Raises:
        InvalidRecord: the body is not a JSON array.
    """
    if not isinstance(body, list):
        raise InvalidRecord(f"expected a JSON array of tickers, got {type(body).__name__}")
    result = ParseResult()

    def build(item: Any) -> Record:
        pair = require_text("pair", item.get("pair"))
        check_numeric("last", item.get("last"))
        return Record((pair, utc_from_seconds(item.get("date"))), item)

    for item in body:
        result.add(item, build, item)
    return result


def plan_candles(ctx: PlanContext) -> list[PlannedRequest]:
    """Candle requests: for each symbol and interval, the window in pages of at most the cap."""
    requests = []
    for asset in ctx.skip(SOURCE, ctx.assets, lambda a: a.symbol(SOURCE)):
        symbol = str(asset.symbol(SOURCE))
        for interval, resolution in served_intervals(ctx, SOURCE, RESOLUTIONS):
            seconds = INTERVAL_SECONDS[interval]
            window = ctx.window((symbol, interval))
            for first, last in paged_windows(window, seconds, CANDLES_PAGE):
                requests.append(
                    PlannedRequest(
                        "/candles",
                        {
                            "symbol": symbol,
                            "resolution": resolution,
                            "from": str(to_s(first)),
                            "to": str(to_s(last)),
                        },
                        group=f"{symbol} {interval}",
                        expect=(
                            Expected(
                                (symbol, interval),
                                first,
                                last,
                                timedelta(seconds=seconds),
                            ),
                        ),
                    )
                )
    return requests


def parse_candles(
    path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParseResult:
    """Candles from the columnar body (parallel arrays), keyed by symbol, interval and ``t``.

    Raises:
        InvalidRecord: the body is not ``{"t": [...], "o": [...], ...}``.
    """
    symbol, interval = params["symbol"], params["resolution"]
    if interval not in RESOLUTIONS:
        raise InvalidRecord(f"resolution {interval!r} is not one criptopipe loads")
    if not isinstance(body, dict) or not isinstance(body.get("t"), list):
        raise InvalidRecord('expected parallel arrays {"t": [...], "o": [...], ...}')
    columns = [body.get(name) or [] for name in COLUMNS]
    result = ParseResult()
    if all(type(col) is list for col in columns) and len({len(col) for col in columns}) == 1:
        # The usual body, columns of one length, all valid: the candles checked at once.
        times = valid_times(columns[0], list(chain.from_iterable(columns[1:])))
        if times is not None:
            result.records = records_of(  # each as the row-by-row path builds it, in COLUMNS order
                zip(repeat(symbol), repeat(interval), times),
                [
                    {"t": t, "o": o, "h": h, "l": lo, "c": c, "v": v}
                    for t, o, h, lo, c, v in zip(*columns, strict=True)
                ],
            )
            return result

    def build(candle: dict[str, Any]) -> Record:
        check_numbers(CANDLE_NUMBERS, [candle.get(name) for name in CANDLE_NUMBERS])
        return Record((symbol, interval, utc_from_seconds(candle.get("t"))), candle)

    for i in range(len(columns[0])):
        candle = {
            name: (col[i] if i < len(col) else None)
            for name, col in zip(COLUMNS, columns, strict=True)
        }
        result.add(candle, build, candle)
    return result


def plan_symbols(ctx: PlanContext) -> list[PlannedRequest]:
    """One request for every symbol (no ``symbols`` filter: the whole listing)."""
    return [PlannedRequest("/symbols", {})]


def parse_symbols(
    path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParseResult:
    """One record per symbol, zipped from the parallel arrays and keyed by ``symbol``."""
    if not isinstance(body, dict) or not isinstance(body.get("symbol"), list):
        raise InvalidRecord('expected parallel arrays {"symbol": [...], "currency": [...], ...}')
    names = [name for name, values in body.items() if isinstance(values, list)]
    columns = {name: body[name] for name in names}
    result = ParseResult()

    def build(item: dict[str, Any]) -> Record:
        return Record((require_text("symbol", item.get("symbol")),), item)

    for i in range(len(columns["symbol"])):
        item = {name: (col[i] if i < len(col) else None) for name, col in columns.items()}
        result.add(item, build, item)
    return result


def read_listing(key: tuple[KeyValue, ...], record: Any) -> Listing:
    """A symbol as a :class:`Listing`: it trades when both listed and traded."""
    listed = record.get("exchange-listed") is True
    traded = record.get("exchange-traded") is True
    status = "traded" if listed and traded else ("listed, not traded" if listed else "unlisted")
    description = record.get("description")
    return Listing(
        SOURCE,
        symbol=str(key[0]),
        key=str(key[0]),
        base=text(record, "base-currency").upper(),
        quote=text(record, "currency").upper(),
        status=status,
        is_active=listed and traded,
        name=description if isinstance(description, str) and description else None,
    )


ENDPOINTS = (
    EndpointSpec(
        SOURCE,
        "tickers",
        "Mercado Bitcoin tickers of every tracked BRL pair.",
        is_time_windowed=False,
        cadence="*/15 * * * *",
        plan=plan_tickers,
        parse=parse_tickers,
        keys=(key("pair"), key("ticker_at", "timestamptz")),
        record_shape="one /tickers object as sent (prices as strings, date epoch s)",
    ),
    EndpointSpec(
        SOURCE,
        "candles",
        "Mercado Bitcoin candles (1m, 15m, 1h, 1d; no 5m or 4h) against BRL.",
        is_time_windowed=True,
        cadence="5 * * * *",
        plan=plan_candles,
        parse=parse_candles,
        keys=(key("symbol"), key("interval"), key("open_time", "timestamptz")),
        record_shape=(
            'one candle zipped from the parallel arrays: {"t": s, "o": "…", "h": "…", "l": "…", '
            '"c": "…", "v": "…"} (strings as sent); interval is \'1h\' or \'1d\''
        ),
        ohlc=True,
        page_cap=CANDLES_PAGE,
    ),
    EndpointSpec(
        SOURCE,
        "symbols",
        "Mercado Bitcoin's listing: every symbol with base, quote, listed and traded flags.",
        is_time_windowed=False,
        cadence="10 * * * *",
        plan=plan_symbols,
        parse=parse_symbols,
        keys=(key("symbol"),),
        record_shape=(
            'one symbol zipped from /symbols\' parallel arrays: {"symbol": "BTC-BRL", '
            '"base-currency": "BTC", "currency": "BRL", "exchange-listed": true, '
            '"exchange-traded": true, "description": "Bitcoin", …} (values as sent)'
        ),
        is_listing=True,
        needs_assets=False,
    ),
)
