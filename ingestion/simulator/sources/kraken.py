"""Kraken: ``/0/public/OHLC`` and ``/0/public/Ticker`` (errors inside 200 bodies)."""

from __future__ import annotations

import re
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
    parse_int,
    rounded,
    select_window,
    snapshot,
)
from ingestion.simulator.tickers import listed, rolling_24h, spread, trade_id

HOUR, DAY = market.HOUR, market.DAY
TRADE_RATE = 0.8  # synthetic trades a second (trade ids)


def _kraken_rows(a: market.CandleArrays, asset_id: str, interval_s: int, _: int) -> list[Any]:
    dec = market.price_decimals("kraken", asset_id)
    o, h, low, c, vw = (rounded(x, dec) for x in (a.open, a.high, a.low, a.close, a.vwap))
    vol = rounded(a.volume, 8)
    t = a.open_time.tolist()
    trades = a.trades.tolist()
    p = f"%.{dec}f".encode()
    fmt = b'[%d,"' + b'","'.join([p] * 5) + b'","%.8f",%d]'
    return [fmt % values for values in zip(t, o, h, low, c, vw, vol, trades, strict=True)]


KRAKEN = CandleFormat("kraken", _kraken_rows)

KRAKEN_INTERVALS = {1: 60, 5: 300, 15: 900, 60: HOUR, 240: 4 * HOUR, 1440: DAY}


def _kraken_error(message: str) -> Reply:
    return error(200, {"error": [message]})


def kraken_ohlc(req: SimRequest) -> Reply:
    """``GET /0/public/OHLC``: candles of one pair at ``interval`` minutes, after ``since``."""
    endpoint = "/0/public/OHLC"
    pair = req.query.get("pair", "")
    if not pair:
        return _kraken_error("EGeneral:Invalid arguments")
    asset = listed(req, "kraken").get(pair)
    if asset is None or asset.kraken_key is None:
        return _kraken_error("EQuery:Unknown asset pair")
    try:
        interval_min = parse_int(req.query.get("interval")) or 1
        since = parse_int(req.query.get("since"))
    except ValueError:
        return _kraken_error("EGeneral:Invalid arguments")
    interval_s = KRAKEN_INTERVALS.get(interval_min)
    if interval_s is None:
        return _kraken_error("EGeneral:Invalid arguments")
    window = select_window(req, interval_s, None, None, 720, newest=True)
    if since is not None:
        after = (since - market.EPOCH0_S) // interval_s + 1
        if after > window.i0:
            if window.open_index is not None and after > window.open_index:
                after = window.open_index  # the open frame is always present
            window = type(window)(after, max(after, window.i1), window.open_index)
    rows, open_row = window_rows(req, KRAKEN, asset, interval_s, window)
    open_i = (req.now_s - market.EPOCH0_S) // interval_s  # the frame still being built
    last = market.EPOCH0_S + (open_i - 1) * interval_s  # newest committed frame
    key = asset.kraken_key
    body = (
        b'{"error":[],"result":{"'
        + key.encode()
        + b'":['
        + b",".join(rows)
        + b'],"last":%d}}' % last
    )

    def index_of(k: Key) -> int:
        return (int(k[-1]) - market.EPOCH0_S) // interval_s

    def to_records(rows_: list[Any]) -> Records:
        return [((key, interval_min, r[0]), r) for r in json_rows(rows_)]

    def extract(obj: Any) -> Records:
        result = obj.get("result") or {}
        rows_ = result.get(key) or []
        return [((key, interval_min, r[0]), r) for r in rows_ if isinstance(r, list) and r]

    return Reply(
        200,
        body,
        endpoint,
        record=record_window(
            req,
            endpoint,
            KRAKEN,
            asset,
            interval_s,
            window,
            (key, interval_min),
            open_row,
            to_records,
            index_of,
        ),
        extract=extract,
    )


def kraken_ticker(req: SimRequest) -> Reply:
    """``GET /0/public/Ticker``: ask, bid, last trade, volumes and ranges of the pairs asked for."""
    endpoint = "/0/public/Ticker"
    pairs = listed(req, "kraken")
    wanted = [p for p in req.query.get("pair", "").split(",") if p]
    if not wanted:
        wanted = sorted({a.kraken_pair for a in pairs.values() if a.kraken_pair})
    if any(p not in pairs for p in wanted):
        return _kraken_error("EQuery:Unknown asset pair")
    result: dict[str, Any] = {}
    for pair in wanted:
        asset = pairs[pair]
        assert asset.kraken_key is not None
        r = rolling_24h(req, "kraken", asset)
        dec = max(market.price_decimals("kraken", asset.asset_id), 5)
        bid, ask = spread(r.last, market.price_decimals("kraken", asset.asset_id))
        tid = trade_id(req, TRADE_RATE, asset)
        lot_a, lot_b = tid % 97 + 1, tid % 13 + 1
        pd = market.price_decimals("kraken", asset.asset_id)

        def px(x: float, pd: int = pd, dec: int = dec) -> str:
            return f"{round(x, pd):.{dec}f}"

        result[asset.kraken_key] = {
            "a": [px(ask), str(lot_a), f"{lot_a:.3f}"],
            "b": [px(bid), str(lot_b), f"{lot_b:.3f}"],
            "c": [px(r.last), f"{(tid % 10007) / 1e5:.8f}"],
            "v": [f"{r.day_volume:.8f}", f"{r.volume:.8f}"],
            "p": [
                f"{r.day_quote_volume / max(r.day_volume, 1e-12):.{dec}f}",
                f"{r.quote_volume / max(r.volume, 1e-12):.{dec}f}",
            ],
            "t": [r.day_trades, r.trades],
            "l": [px(r.day_low), px(r.low)],
            "h": [px(r.day_high), px(r.high)],
            "o": px(r.day_open),
        }
    body = {"error": [], "result": result}

    def extract(obj: Any) -> Records:
        res = obj.get("result") or {}
        return [((k,), v) for k, v in res.items()]

    return snapshot(req, endpoint, body, extract)


# ---------------------------------------------------------------- the listing
def _kraken_alt(code: str) -> str:
    return code[1:] if len(code) == 4 and code[0] in "XZ" and code[1:].isalpha() else code


MARGIN_LIMITS = {
    "XXBTZUSD": (300, 240),
    "XETHZUSD": (4000, 4000),
    "XDGUSD": (30_000_000, 30_000_000),
    "USDTZUSD": (3_200_000, 4_600_000),
    "XBTUSDT": (80, 80),
    "XREPZEUR": (0, 0),
}


def kraken_asset_pairs(req: SimRequest) -> Reply:
    """``/0/public/AssetPairs``: every pair keyed by Kraken's own name, statuses as sent."""
    result: dict[str, Any] = {}
    fees = [[0, 0.4], [10000, 0.35], [50000, 0.24], [100000, 0.22], [250000, 0.2]]
    maker = [[0, 0.25], [10000, 0.2], [50000, 0.14], [100000, 0.12], [250000, 0.1]]
    for pair in sorted(
        listings.pairs(req, "kraken", "online", "ZUSD"), key=lambda p: p.key or p.symbol
    ):
        decimals = listings.decimals(pair)
        limit = MARGIN_LIMITS.get(pair.key or pair.symbol)
        entry: dict[str, Any] = {
            "altname": pair.symbol,
            "wsname": f"{_kraken_alt(pair.base)}/{_kraken_alt(pair.quote)}",
            "aclass_base": "currency",
            "base": pair.base,
            "aclass_quote": "currency",
            "quote": pair.quote,
            "lot": "unit",
            "cost_decimals": 5,
            "pair_decimals": decimals,
            "lot_decimals": 8,
            "lot_multiplier": 1,
            "leverage_buy": [2, 3, 4, 5] if limit else [],
            "leverage_sell": [2, 3, 4, 5] if limit else [],
            "fees": fees,
            "fees_maker": maker,
            "fee_volume_currency": "ZUSD",
            "margin_call": 80,
            "margin_stop": 40,
            "ordermin": "0.0001",
            "costmin": "0.5",
            "tick_size": f"{10.0**-decimals:.{decimals}f}",
            "status": pair.status,
        }
        result[pair.key or pair.symbol] = entry
        if (
            limit is not None
        ):  # only margin pairs carry position limits (268 of 1,434 on the real API)
            entry["long_position_limit"], entry["short_position_limit"] = limit
    body = {"error": [], "result": result}

    def extract(b: Any) -> Records:
        found = b.get("result") if isinstance(b, dict) else None
        return [((k,), v) for k, v in (found or {}).items()]

    return snapshot(req, "/0/public/AssetPairs", body, extract)


SOURCE = SimSource(
    name="kraken",
    prefix="/kraken",
    routes=(
        (re.compile(r"/0/public/OHLC"), kraken_ohlc),
        (re.compile(r"/0/public/Ticker"), kraken_ticker),
        (re.compile(r"/0/public/AssetPairs"), kraken_asset_pairs),
    ),
    rate_limited=lambda _retry_after: Reply(200, compact({"error": ["EAPI:Rate limit exceeded"]})),
    api_error=lambda _status: Reply(200, compact({"error": ["EService:Unavailable"]})),
    not_found=lambda: Reply(200, compact({"error": ["EGeneral:Unknown method"]})),
)
