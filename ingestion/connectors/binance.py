"""Binance spot: ``/api/v3/klines`` (1m … 1d), ``/api/v3/ticker/24hr`` and ``/api/v3/exchangeInfo``.

exchangeInfo is the listing: every symbol with its status, base and quote asset. Without
``symbolStatus`` it also carries delisted pairs (status ``BREAK``, yet
``isSpotTradingAllowed: true``), so a pair trades only when its status is ``TRADING``.
Klines: 1000 a call, ``startTime``/``endTime`` in ms (open times, inclusive); rows are
12-element arrays with prices as strings. The base URL is switchable
(``CRIPTOPIPE_BINANCE_BASE_URL``) because some regions get HTTP 451 from api.binance.com.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
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
    require_text,
    served_intervals,
    to_ms,
    utc_from_millis,
    valid_rows,
)
from ingestion.connectors.source import Exchange, RequestWeight, Source
from ingestion.connectors.tables import key
from ingestion.listings import Listing, text

SOURCE = "binance"
KLINES_CAP = 1000
# Binance serves every criptopipe interval, under the same labels (it has more: 3m, 2h…).
KLINE_INTERVALS = {label: label for label in ("1m", "5m", "15m", "1h", "4h", "1d")}
KLINE_NUMBERS = ("open", "high", "low", "close", "volume")

DESCRIPTION = Source(
    name=SOURCE,
    title="Binance spot",
    base_url="https://api.binance.com",
    rate_limit=1200,  # weight is watched separately through the headers
    # the smallest published per-minute budget until the host's exchangeInfo says its
    # own (6000 at api.binance.com, 1200 at Binance.US)
    weight=RequestWeight(
        header="X-MBX-USED-WEIGHT-1M",
        budget=1200,
        published_by="exchange_info",
        read_published=lambda path, body: published_weight_budget(path, body),
    ),
    region_hint="https://data-api.binance.vision",  # HTTP 451 from some regions
    kept_headers=("X-MBX-USED-WEIGHT-1M", "X-MBX-USED-WEIGHT"),
    exchange=Exchange(
        quote_currency="USDT",
        name="Binance",
        listing="exchange_info",
        read_listing=lambda key, record: read_listing(key, record),
        country_code="KY",
        website_url="https://www.binance.com",
    ),
)


def published_weight_budget(path: str, body: Any) -> int | None:
    """The request-weight budget a minute that an ``exchangeInfo`` body publishes.

    Its ``rateLimits`` entry of type ``REQUEST_WEIGHT`` over one ``MINUTE`` (6000 at
    api.binance.com, 1200 at Binance.US); None for any other body, or one without it.
    """
    if not path.endswith("/exchangeInfo") or not isinstance(body, dict):
        return None
    limits = body.get("rateLimits")
    for limit in limits if isinstance(limits, list) else ():
        if (
            isinstance(limit, dict)
            and limit.get("rateLimitType") == "REQUEST_WEIGHT"
            and limit.get("interval") == "MINUTE"
            and limit.get("intervalNum") == 1
            and type(limit.get("limit")) is int
            and limit["limit"] > 0
        ):
            return int(limit["limit"])
    return None


def plan_klines(ctx: PlanContext) -> list[PlannedRequest]:
    """Kline requests: for each asset Binance lists and each interval, the window in pages."""
    requests = []
    for asset in ctx.skip(SOURCE, ctx.assets, lambda a: a.symbol(SOURCE)):
        symbol = str(asset.symbol(SOURCE))
        for interval, api_interval in served_intervals(ctx, SOURCE, KLINE_INTERVALS):
            seconds = INTERVAL_SECONDS[interval]
            window = ctx.window((symbol, interval))
            for first, last in paged_windows(window, seconds, KLINES_CAP):
                requests.append(
                    PlannedRequest(
                        "/api/v3/klines",
                        {
                            "symbol": symbol,
                            "interval": api_interval,
                            "startTime": str(to_ms(first)),
                            "endTime": str(to_ms(last) + seconds * 1000 - 1),
                            "limit": str(KLINES_CAP),
                        },
                        group=f"{symbol} {interval}",
                        expect=(
                            Expected((symbol, interval), first, last, timedelta(seconds=seconds)),
                        ),
                    )
                )
    return requests


def _interval(api_interval: str) -> str:
    for label, spelled in KLINE_INTERVALS.items():
        if spelled == api_interval:
            return label
    raise InvalidRecord(f"interval {api_interval!r} is not one criptopipe loads")


def parse_klines(
    path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParseResult:
    """Klines of one symbol and interval, keyed by their open time.

    Raises:
        InvalidRecord: the body is not a JSON array, or the interval not one criptopipe
            loads.
    """
    symbol = params["symbol"]
    interval = _interval(params["interval"])
    result = ParseResult()
    if not isinstance(body, list):
        raise InvalidRecord(f"expected a JSON array of klines, got {type(body).__name__}")

    fast = valid_rows(body, (symbol, interval), 6, 6, millis=True)
    if fast is not None:  # the usual page: every row valid
        result.records = fast
        return result

    def build(row: Any) -> Record:
        if not isinstance(row, list) or len(row) < 6:
            raise InvalidRecord(f"kline is not an array of 12 fields: {row!r:.80}")
        check_numbers(KLINE_NUMBERS, row[1:6])
        return Record((symbol, interval, utc_from_millis(row[0])), row)

    for row in body:
        result.add(row, build, row)
    return result


def plan_ticker(ctx: PlanContext) -> list[PlannedRequest]:
    """One 24h-ticker request for every asset Binance lists; none when it lists none."""
    symbols = [a.symbol(SOURCE) for a in ctx.skip(SOURCE, ctx.assets, lambda a: a.symbol(SOURCE))]
    if not symbols:
        return []
    return [
        PlannedRequest(
            "/api/v3/ticker/24hr", {"symbols": json.dumps(symbols, separators=(",", ":"))}
        )
    ]


def parse_ticker(
    path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParseResult:
    """24h tickers (one object or a list), keyed by symbol and close time."""
    result = ParseResult()
    items = body if isinstance(body, list) else [body]

    def build(item: Any) -> Record:
        symbol = require_text("symbol", item.get("symbol"))
        check_numeric("lastPrice", item.get("lastPrice"))
        return Record((symbol, utc_from_millis(item.get("closeTime"))), item)

    for item in items:
        result.add(item, build, item)
    return result


def plan_exchange_info(ctx: PlanContext) -> list[PlannedRequest]:
    """One request for the whole listing (delisted and halted symbols included)."""
    return [PlannedRequest("/api/v3/exchangeInfo", {})]


def parse_exchange_info(
    path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParseResult:
    """One record per element of ``symbols``, keyed by the symbol."""
    if not isinstance(body, dict) or not isinstance(body.get("symbols"), list):
        raise InvalidRecord('expected {"symbols": [...], ...}')
    result = ParseResult()

    def build(item: Any) -> Record:
        return Record((require_text("symbol", item.get("symbol")),), item)

    for item in body["symbols"]:
        result.add(item, build, item)
    return result


def read_listing(key: tuple[KeyValue, ...], record: Any) -> Listing:
    """A Binance symbol as a :class:`Listing`: it trades only while ``TRADING``."""
    status = text(record, "status")
    return Listing(
        SOURCE,
        symbol=str(key[0]),
        key=str(key[0]),
        base=text(record, "baseAsset").upper(),
        quote=text(record, "quoteAsset").upper(),
        status=status,
        is_active=status == "TRADING",
    )


ENDPOINTS = (
    EndpointSpec(
        SOURCE,
        "klines",
        "Binance spot candles (1m, 5m, 15m, 1h, 4h, 1d) against USDT, 1000 per call.",
        is_time_windowed=True,
        cadence="5 * * * *",
        plan=plan_klines,
        parse=parse_klines,
        keys=(key("symbol"), key("interval"), key("open_time", "timestamptz")),
        record_shape=(
            "one kline row, the 12-element array as sent: [open ms, o, h, l, c, volume, close ms, "
            "quote volume, trades, taker base, taker quote, ignore] (prices as strings)"
        ),
        ohlc=True,
        page_cap=KLINES_CAP,
    ),
    EndpointSpec(
        SOURCE,
        "ticker_24hr",
        "Binance 24-hour rolling ticker of every tracked symbol.",
        is_time_windowed=False,
        cadence="*/15 * * * *",
        plan=plan_ticker,
        parse=parse_ticker,
        keys=(key("symbol"), key("close_time", "timestamptz")),
        record_shape="one /api/v3/ticker/24hr object, as sent (prices as strings)",
    ),
    EndpointSpec(
        SOURCE,
        "exchange_info",
        "Binance's listing: every spot symbol with status, base and quote asset, filters.",
        is_time_windowed=False,
        cadence="10 * * * *",
        plan=plan_exchange_info,
        parse=parse_exchange_info,
        keys=(key("symbol"),),
        record_shape=(
            "one element of exchangeInfo's `symbols` as sent: symbol, status (TRADING, BREAK, …), "
            "baseAsset, quoteAsset, filters, permissions, …"
        ),
        is_listing=True,
        needs_assets=False,
    ),
)
