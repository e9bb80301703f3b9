"""Coinbase Exchange: ``/products/{id}/candles`` and ``/products/{id}/ticker``."""

from __future__ import annotations

import math
import random
import re
from datetime import UTC, datetime
from typing import Any

from ingestion.simulator import listings, market
from ingestion.simulator.candles import CandleFormat, json_rows, record_window, window_rows
from ingestion.simulator.common import (
    Key,
    Records,
    Reply,
    SimRequest,
    SimSource,
    compact,
    error,
    first_index_at_or_after,
    parse_int,
    rounded,
    select_window,
    snapshot,
    spaced,
)
from ingestion.simulator.tickers import listed, rolling_24h, spread, trade_id

HOUR, DAY = market.HOUR, market.DAY
TRADE_RATE = 3.0  # synthetic trades a second (trade ids)


def _coinbase_rows(a: market.CandleArrays, asset_id: str, interval_s: int, _: int) -> list[Any]:
    dec = market.price_decimals("coinbase", asset_id)
    o, h, low, c = (rounded(x, dec) for x in (a.open, a.high, a.low, a.close))
    vol = rounded(a.volume, 8)
    t = a.open_time.tolist()
    fmt = b"[%d, %r, %r, %r, %r, %r]"
    return [fmt % values for values in zip(t, low, h, o, c, vol, strict=True)]


# No candle for an interval without trades (market.EXCHANGE_MODELS, SimulatorConfig).
COINBASE = CandleFormat("coinbase", _coinbase_rows)

COINBASE_GRANULARITIES = {60: 60, 300: 300, 900: 900, 3600: HOUR, 21600: 6 * HOUR, 86400: DAY}


def _parse_time(text: str) -> int:
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return math.floor(t.timestamp())


def coinbase_candles(req: SimRequest) -> Reply:
    """``GET /products/{id}/candles``: candles of one product at ``granularity`` seconds."""
    endpoint = "/products/{id}/candles"
    product = req.match["product_id"]
    asset = listed(req, "coinbase").get(product)
    if asset is None:
        return error(404, {"message": "NotFound"})
    try:
        granularity = parse_int(req.query.get("granularity")) or 60
    except ValueError:
        return error(400, {"message": "Unsupported granularity"})
    interval_s = COINBASE_GRANULARITIES.get(granularity)
    if interval_s is None:
        return error(400, {"message": "Unsupported granularity"})
    start_text, end_text = req.query.get("start"), req.query.get("end")
    if start_text and end_text:
        try:
            start, end = _parse_time(start_text), _parse_time(end_text)
        except ValueError:
            return error(400, {"message": "Invalid start or end time"})
        if end < start:
            return error(400, {"message": "start must be before end"})
        if (end - start) / interval_s > 300:
            return error(
                400,
                {
                    "message": "granularity too small for the requested time range. "
                    "Count of aggregations requested exceeds 300"
                },
            )
        lo = first_index_at_or_after(start, interval_s)
        hi = (end - market.EPOCH0_S) // interval_s
        window = select_window(req, interval_s, lo, hi, 300, newest=True)
    else:  # Coinbase ignores start and end unless both are given
        window = select_window(req, interval_s, None, None, 300, newest=True)
    rows, open_row = window_rows(req, COINBASE, asset, interval_s, window)
    rows.reverse()

    def index_of(k: Key) -> int:
        return (int(k[-1]) - market.EPOCH0_S) // interval_s

    def to_records(rows_: list[Any]) -> Records:
        return [((product, granularity, r[0]), r) for r in json_rows(rows_)]

    def extract(obj: Any) -> Records:
        return [((product, granularity, r[0]), r) for r in obj if isinstance(r, list) and r]

    return Reply(
        200,
        b"[" + b", ".join(rows) + b"]",
        endpoint,
        record=record_window(
            req,
            endpoint,
            COINBASE,
            asset,
            interval_s,
            window,
            (product, granularity),
            open_row,
            to_records,
            index_of,
        ),
        extract=extract,
        dumps=spaced,
    )


def coinbase_ticker(req: SimRequest) -> Reply:
    """``GET /products/{id}/ticker``: the product's best bid and ask, last trade and 24h volume."""
    endpoint = "/products/{id}/ticker"
    product = req.match["product_id"]
    asset = listed(req, "coinbase").get(product)
    if asset is None:
        return error(404, {"message": "NotFound"})
    r = rolling_24h(req, "coinbase", asset)
    dec = market.price_decimals("coinbase", asset.asset_id)
    bid, ask = spread(r.last, dec)
    tid = trade_id(req, TRADE_RATE, asset)
    now = req.now()
    body = {
        "ask": f"{ask:.{dec}f}".rstrip("0").rstrip("."),
        "bid": f"{bid:.{dec}f}".rstrip("0").rstrip("."),
        "volume": f"{r.volume:.8f}",
        "trade_id": tid,
        "price": f"{round(r.last, dec):.{dec}f}".rstrip("0").rstrip("."),
        "size": f"{(tid % 100003) / 1e6:.8f}",
        "time": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}Z",
        "rfq_volume": f"{r.volume * 0.002:.6f}",
    }

    def extract(obj: Any) -> Records:
        return [((product, obj.get("time")), obj)] if isinstance(obj, dict) else []

    return snapshot(req, endpoint, body, extract)


# ---------------------------------------------------------------- the listing
def coinbase_products(req: SimRequest) -> Reply:
    """``/products``: every product, unsorted, delisted ones with trading disabled."""
    products = []
    for pair in listings.pairs(req, "coinbase", "online", "USD"):
        decimals = listings.decimals(pair)
        online = pair.status == "online"
        products.append(
            {
                "id": pair.symbol,
                "base_currency": pair.base,
                "quote_currency": pair.quote,
                "quote_increment": f"{10.0**-decimals:.{decimals}f}",
                "base_increment": "0.00000001",
                "display_name": f"{pair.base}/{pair.quote}",
                "min_market_funds": "1",
                "margin_enabled": False,
                "post_only": False,
                "limit_only": False,
                "cancel_only": False,
                "status": pair.status,
                "status_message": "",
                "trading_disabled": not online,
                "fx_stablecoin": False,
                "max_slippage_percentage": "0.03000000",
                "auction_mode": False,
                "high_bid_limit_percentage": "",
            }
        )
    random.Random(req.seed).shuffle(products)  # the real list is not sorted either
    return snapshot(req, "/products", products, lambda b: listings.keyed(b, "id"), dumps=spaced)


SOURCE = SimSource(
    name="coinbase",
    prefix="/coinbase",
    routes=(
        (re.compile(r"/products/(?P<product_id>[^/]+)/candles"), coinbase_candles),
        (re.compile(r"/products/(?P<product_id>[^/]+)/ticker"), coinbase_ticker),
        (re.compile(r"/products/?"), coinbase_products),
    ),
    server_error=lambda status: Reply(status, compact({"message": "Internal Server Error"})),
    not_found=lambda: Reply(404, compact({"message": "NotFound"})),
)
