"""Binance spot: ``/api/v3/klines`` and ``/api/v3/ticker/24hr`` (request weights)."""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

import numpy as np

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
)
from ingestion.simulator.tickers import listed, rolling_24h, spread, trade_id

HOUR, DAY = market.HOUR, market.DAY
TRADE_RATE = 12.0  # synthetic trades a second (trade ids)


def _binance_rows(a: market.CandleArrays, asset_id: str, interval_s: int, _: int) -> list[Any]:
    dec = market.price_decimals("binance", asset_id)
    o, h, low, c = (rounded(x, dec) for x in (a.open, a.high, a.low, a.close))
    vol = rounded(a.volume, 8)
    vwap = a.vwap
    qv = (np.round(a.volume, 8) * vwap).tolist()
    tbv = (np.round(a.volume, 8) * a.taker_ratio).tolist()
    tqv = (np.round(a.volume, 8) * a.taker_ratio * vwap).tolist()
    ot = (a.open_time * 1000).tolist()
    step = interval_s * 1000 - 1
    close_time = [t + step for t in ot]
    trades = a.trades.tolist()
    fmt = b'[%d,"%.8f","%.8f","%.8f","%.8f","%.8f",%d,"%.8f",%d,"%.8f","%.8f","0"]'
    columns = (ot, o, h, low, c, vol, close_time, qv, trades, tbv, tqv)
    return [fmt % values for values in zip(*columns, strict=True)]


BINANCE = CandleFormat("binance", _binance_rows)

BINANCE_INTERVALS = {"1m": 60, "5m": 300, "15m": 900, "1h": HOUR, "4h": 4 * HOUR, "1d": DAY}
BINANCE_BAD_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}


def _binance_key_index(interval_s: int) -> Any:
    def index_of(key: Key) -> int:
        return (int(key[-1]) // 1000 - market.EPOCH0_S) // interval_s

    return index_of


def binance_klines(req: SimRequest) -> Reply:
    """``GET /api/v3/klines``: a window of candles of ``symbol`` and ``interval``, as Binance pages.

    Without ``startTime`` it serves the newest ``limit`` candles; errors are Binance's own
    codes and messages.
    """
    endpoint = "/api/v3/klines"
    symbol = req.query.get("symbol", "")
    if not symbol:
        return error(
            400,
            {
                "code": -1102,
                "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            },
        )
    asset = listed(req, "binance").get(symbol)
    if asset is None:
        return error(400, BINANCE_BAD_SYMBOL)
    interval = req.query.get("interval", "")
    interval_s = BINANCE_INTERVALS.get(interval)
    if interval_s is None:
        return error(400, {"code": -1120, "msg": "Invalid interval."})
    try:
        limit = parse_int(req.query.get("limit")) or 500
        start = parse_int(req.query.get("startTime"))
        end = parse_int(req.query.get("endTime"))
    except ValueError:
        return error(400, {"code": -1100, "msg": "Illegal characters found in a parameter."})
    limit = min(max(limit, 1), 1000)
    lo = None if start is None else first_index_at_or_after(math.ceil(start / 1000), interval_s)
    hi = None if end is None else (end // 1000 - market.EPOCH0_S) // interval_s
    window = select_window(req, interval_s, lo, hi, limit, newest=start is None)
    rows, open_row = window_rows(req, BINANCE, asset, interval_s, window)

    def to_records(rows_: list[Any]) -> Records:
        return [((symbol, interval, r[0]), r) for r in json_rows(rows_)]

    def extract(obj: Any) -> Records:
        return [((symbol, interval, r[0]), r) for r in obj if isinstance(r, list) and r]

    return Reply(
        200,
        b"[" + b",".join(rows) + b"]",
        endpoint,
        record=record_window(
            req,
            endpoint,
            BINANCE,
            asset,
            interval_s,
            window,
            (symbol, interval),
            open_row,
            to_records,
            _binance_key_index(interval_s),
        ),
        extract=extract,
    )


def binance_ticker(req: SimRequest) -> Reply:
    """``GET /api/v3/ticker/24hr``: rolling 24-hour statistics of one symbol, a list, or all."""
    endpoint = "/api/v3/ticker/24hr"
    symbols_listed = listed(req, "binance")
    if "symbol" in req.query:
        wanted = [req.query["symbol"]]
        single = True
    elif "symbols" in req.query:
        try:
            wanted = json.loads(req.query["symbols"])
            assert isinstance(wanted, list)
        except (ValueError, AssertionError):
            return error(
                400,
                {
                    "code": -1100,
                    "msg": "Illegal characters found in parameter "
                    "'symbols'; legal range is "
                    '\'^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]'
                    "{1,20}\"){0,}){0,1}\\]$'.",
                },
            )
        single = False
    else:
        wanted = list(symbols_listed)
        single = False
    if any(s not in symbols_listed for s in wanted):
        return error(400, BINANCE_BAD_SYMBOL)
    now_ms = req.now_s * 1000
    out = []
    for symbol in wanted:
        asset = symbols_listed[symbol]
        r = rolling_24h(req, "binance", asset)
        dec = market.price_decimals("binance", asset.asset_id)
        bid, ask = spread(r.last, dec)
        last_id = trade_id(req, TRADE_RATE, asset)
        out.append(
            {
                "symbol": symbol,
                "priceChange": f"{round(r.last, dec) - round(r.open, dec):.8f}",
                "priceChangePercent": f"{(r.last / r.open - 1) * 100:.3f}",
                "weightedAvgPrice": f"{r.quote_volume / max(r.volume, 1e-12):.8f}",
                "prevClosePrice": f"{round(r.open, dec):.8f}",
                "lastPrice": f"{round(r.last, dec):.8f}",
                "lastQty": f"{0.001 + (last_id % 997) / 1000:.8f}",
                "bidPrice": f"{bid:.8f}",
                "bidQty": f"{(last_id % 313) / 100 + 0.01:.8f}",
                "askPrice": f"{ask:.8f}",
                "askQty": f"{(last_id % 211) / 100 + 0.01:.8f}",
                "openPrice": f"{round(r.open, dec):.8f}",
                "highPrice": f"{round(r.high, dec):.8f}",
                "lowPrice": f"{round(r.low, dec):.8f}",
                "volume": f"{r.volume:.8f}",
                "quoteVolume": f"{r.quote_volume:.8f}",
                "openTime": now_ms - 86_400_000,
                "closeTime": now_ms,
                "firstId": last_id - r.trades + 1,
                "lastId": last_id,
                "count": r.trades,
            }
        )
    body: Any = out[0] if single else out

    def extract(obj: Any) -> Records:
        items = [obj] if isinstance(obj, dict) else obj
        return [((t.get("symbol"), t.get("closeTime")), t) for t in items if isinstance(t, dict)]

    return snapshot(req, endpoint, body, extract)


def binance_weight(path: str, query: Any) -> int:
    """The request weight Binance counts for a request to ``path`` with ``query``."""
    if path.endswith("/exchangeInfo"):
        return 20
    if path.endswith("/ticker/24hr"):
        if "symbol" in query:
            return 2
        if "symbols" in query:
            try:
                n = len(json.loads(query["symbols"]))
            except ValueError:
                return 2
            return 2 if n <= 20 else 40 if n <= 100 else 80
        return 80
    return 2


RATE_LIMITED = {
    "code": -1003,
    "msg": (
        "Too many requests; current limit is 1200 requests per minute. Please use the websocket "
        "for live updates to avoid polling the API."
    ),
}


def _rate_limited(retry_after: str) -> Reply:
    return Reply(429, compact(RATE_LIMITED), headers={"Retry-After": retry_after})


def _banned(seconds: int, retry_after: str) -> Reply:
    until_ms = int((time.time() + seconds) * 1000)
    body = {
        "code": -1003,
        "msg": f"Way too much request weight used; IP banned until "
        f"{until_ms}. Please use WebSocket Streams for live updates "
        f"to avoid bans.",
    }
    return Reply(418, compact(body), headers={"Retry-After": retry_after})


def _server_error(status: int) -> Reply:
    body = {
        "code": -1001,
        "msg": "Internal error; unable to process your request. Please try again.",
    }
    return Reply(status, compact(body))


def _usage_headers(used: int) -> dict[str, str]:
    return {"X-MBX-USED-WEIGHT-1M": str(used), "X-MBX-USED-WEIGHT": str(used)}


# ---------------------------------------------------------------- the listing
def binance_exchange_info(req: SimRequest) -> Reply:
    """``/api/v3/exchangeInfo``: every symbol, BREAK ones included (no symbolStatus)."""
    symbols = []
    for pair in listings.pairs(req, "binance", "TRADING", "USDT"):
        tick = f"{10.0 ** -listings.decimals(pair):.8f}"
        symbols.append(
            {
                "symbol": pair.symbol,
                "status": pair.status,
                "baseAsset": pair.base,
                "baseAssetPrecision": 8,
                "quoteAsset": pair.quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": [
                    "LIMIT",
                    "LIMIT_MAKER",
                    "MARKET",
                    "STOP_LOSS_LIMIT",
                    "TAKE_PROFIT_LIMIT",
                ],
                "icebergAllowed": True,
                "ocoAllowed": True,
                "quoteOrderQtyMarketAllowed": True,
                "allowTrailingStop": True,
                "cancelReplaceAllowed": True,
                # still true on BREAK symbols, as on the real API
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": tick,
                        "maxPrice": "1000000.00000000",
                        "tickSize": tick,
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": "0.00001000",
                        "maxQty": "9000.00000000",
                        "stepSize": "0.00001000",
                    },
                    {"filterType": "ICEBERG_PARTS", "limit": 10},
                    {
                        "filterType": "TRAILING_DELTA",
                        "minTrailingAboveDelta": 10,
                        "maxTrailingAboveDelta": 2000,
                        "minTrailingBelowDelta": 10,
                        "maxTrailingBelowDelta": 2000,
                    },
                    {
                        "filterType": "NOTIONAL",
                        "minNotional": "5.00000000",
                        "applyMinToMarket": True,
                        "maxNotional": "9000000.00000000",
                        "applyMaxToMarket": False,
                        "avgPriceMins": 5,
                    },
                    {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                ],
                "permissions": ["SPOT"],
                "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": [
                    "NONE",
                    "EXPIRE_TAKER",
                    "EXPIRE_MAKER",
                    "EXPIRE_BOTH",
                ],
            }
        )
    body = {
        "timezone": "UTC",
        "serverTime": req.now_s * 1000,
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                # the weight it counts against, where a test limits it; else Binance's own
                "limit": req.state.config.rate_limits.get("binance", 6000),
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    }
    return snapshot(
        req,
        "/api/v3/exchangeInfo",
        body,
        lambda b: listings.keyed(b.get("symbols") or [], "symbol"),
    )


SOURCE = SimSource(
    name="binance",
    prefix="/binance",
    routes=(
        (re.compile(r"/api/v3/klines"), binance_klines),
        (re.compile(r"/api/v3/ticker/24hr"), binance_ticker),
        (re.compile(r"/api/v3/exchangeInfo"), binance_exchange_info),
    ),
    weight=binance_weight,
    rate_limited=_rate_limited,
    banned=_banned,
    ban_after=3,
    server_error=_server_error,
    not_found=lambda: Reply(404, b""),
    usage_headers=_usage_headers,
)
