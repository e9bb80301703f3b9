"""Coinbase Exchange: ``/products/{id}/candles`` (granularity 60 … 86400 seconds).

300 candles a call, ``start``/``end`` ISO-8601 (inclusive), rows newest first as
``[time s, low, high, open, close, volume]`` numbers — note the order. Granularities are
60, 300, 900, 3600, 21600 and 86400: there is no 4-hour candle (the marts roll 4h up).

``/products`` is the listing: an unsorted array of every product, delisted ones too
(``status: "delisted"``, ``trading_disabled: true``). ``display_name`` is not the id
(``BTC/USD``), so base and quote come from ``base_currency``/``quote_currency``.
"""

from __future__ import annotations

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
    paged_windows,
    require_text,
    served_intervals,
    utc_from_seconds,
    valid_rows,
)
from ingestion.connectors.source import Exchange, Source
from ingestion.connectors.tables import key
from ingestion.listings import Listing, text

SOURCE = "coinbase"
CANDLES_CAP = 300
# criptopipe's labels Coinbase serves, as granularity seconds (21600, 6h, is not one of ours).
GRANULARITIES = {"1m": "60", "5m": "300", "15m": "900", "1h": "3600", "1d": "86400"}
GRANULARITY_TO_INTERVAL = {seconds: label for label, seconds in GRANULARITIES.items()}
CANDLE_NUMBERS = ("low", "high", "open", "close", "volume")

DESCRIPTION = Source(
    name=SOURCE,
    title="Coinbase Exchange",
    base_url="https://api.exchange.coinbase.com",
    rate_limit=480,  # public: 10 requests a second
    exchange=Exchange(
        quote_currency="USD",
        name="Coinbase Exchange",
        listing="products",
        read_listing=lambda key, record: read_listing(key, record),
        country_code="US",
        website_url="https://exchange.coinbase.com",
    ),
)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_candles(ctx: PlanContext) -> list[PlannedRequest]:
    """Candle requests: for each product and interval, the window in pages of at most the cap."""
    requests = []
    for asset in ctx.skip(SOURCE, ctx.assets, lambda a: a.symbol(SOURCE)):
        product_id = str(asset.symbol(SOURCE))
        for interval, granularity in served_intervals(ctx, SOURCE, GRANULARITIES):
            seconds = INTERVAL_SECONDS[interval]
            window = ctx.window((product_id, interval))
            for first, last in paged_windows(window, seconds, CANDLES_CAP):
                requests.append(
                    PlannedRequest(
                        f"/products/{product_id}/candles",
                        {"granularity": granularity, "start": _iso(first), "end": _iso(last)},
                        group=f"{product_id} {interval}",
                        expect=(
                            Expected(
                                (product_id, interval),
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
    """Candles of one product and granularity, keyed by their start time.

    Raises:
        InvalidRecord: the body is not a JSON array.
    """
    product_id = path.removeprefix("/products/").removesuffix("/candles")
    interval = GRANULARITY_TO_INTERVAL.get(params["granularity"])
    if interval is None:
        raise InvalidRecord(f"granularity {params['granularity']!r} is not one criptopipe loads")
    if not isinstance(body, list):
        raise InvalidRecord(f"expected a JSON array of candles, got {type(body).__name__}")
    result = ParseResult()
    fast = valid_rows(body, (product_id, interval), 6, 6)
    if fast is not None:  # the usual page: every row valid
        result.records = fast
        return result

    def build(row: Any) -> Record:
        if not isinstance(row, list) or len(row) < 6:
            raise InvalidRecord(f"candle is not an array of 6 numbers: {row!r:.80}")
        check_numbers(CANDLE_NUMBERS, row[1:6])
        return Record((product_id, interval, utc_from_seconds(row[0])), row)

    for row in body:
        result.add(row, build, row)
    return result


def plan_products(ctx: PlanContext) -> list[PlannedRequest]:
    """One request for every product (delisted ones included)."""
    return [PlannedRequest("/products", {})]


def parse_products(
    path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParseResult:
    """One record per product, keyed by its id (``BTC-USD``)."""
    if not isinstance(body, list):
        raise InvalidRecord(f"expected a JSON array of products, got {type(body).__name__}")
    result = ParseResult()

    def build(item: Any) -> Record:
        return Record((require_text("id", item.get("id")),), item)

    for item in body:
        result.add(item, build, item)
    return result


def read_listing(key: tuple[KeyValue, ...], record: Any) -> Listing:
    """A product as a :class:`Listing`: it trades while online and trading is enabled."""
    status = text(record, "status")
    halted = bool(record.get("trading_disabled")) or bool(record.get("cancel_only"))
    return Listing(
        SOURCE,
        symbol=str(key[0]),
        key=str(key[0]),
        base=text(record, "base_currency").upper(),
        quote=text(record, "quote_currency").upper(),
        status="trading_disabled" if halted and status == "online" else status,
        is_active=status == "online" and not halted,
    )


ENDPOINTS = (
    EndpointSpec(
        SOURCE,
        "candles",
        "Coinbase Exchange candles (1m, 5m, 15m, 1h, 1d; no 4h) against USD, 300 per call.",
        is_time_windowed=True,
        cadence="5 * * * *",
        plan=plan_candles,
        parse=parse_candles,
        keys=(key("product_id"), key("interval"), key("open_time", "timestamptz")),
        record_shape=(
            "one candle row as sent: [time s, low, high, open, close, volume] (numbers); "
            "interval is '1h' (3600) or '1d' (86400)"
        ),
        ohlc=True,
        page_cap=CANDLES_CAP,
        omits_empty_periods="Coinbase sends no candle for an interval without trades",
    ),
    EndpointSpec(
        SOURCE,
        "products",
        "Coinbase Exchange's listing: every product with base, quote and status.",
        is_time_windowed=False,
        cadence="10 * * * *",
        plan=plan_products,
        parse=parse_products,
        keys=(key("product_id"),),
        record_shape=(
            "one /products element as sent: id, base_currency, quote_currency, status, "
            "trading_disabled, increments (strings), …"
        ),
        is_listing=True,
        needs_assets=False,
    ),
)
