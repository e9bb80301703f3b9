"""Binance, Kraken, Coinbase Exchange and Mercado Bitcoin endpoints."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ingestion.simulator import market
from ingestion.simulator.candles import (
    BINANCE,
    COINBASE,
    KRAKEN,
    MERCADOBITCOIN,
    json_rows,
    mb_body,
    record_window,
    window_rows,
)
from ingestion.simulator.common import (
    Key,
    Records,
    Reply,
    SimRequest,
    compact,
    error,
    first_index_at_or_after,
    parse_int,
    select_window,
    spaced,
)
from ingestion.symbols import CATALOGUE, Asset

HOUR, DAY = market.HOUR, market.DAY


def listed(req: SimRequest, exchange: str) -> dict[str, Asset]:
    """Symbol -> asset for the configured assets this exchange lists."""
    out: dict[str, Asset] = {}
    for asset in CATALOGUE:
        if asset.asset_id not in req.state.config.assets:
            continue
        if exchange == "kraken":
            if asset.kraken_pair and asset.kraken_key:
                out[asset.kraken_pair] = asset
                out[asset.kraken_key] = asset
            continue
        symbol = {
            "binance": asset.binance,
            "coinbase": asset.coinbase,
            "mercadobitcoin": asset.mercadobitcoin,
        }[exchange]
        if symbol:
            out[symbol] = asset
    return out


@dataclass(frozen=True, slots=True)
class Rolling:
    """Statistics of the last 24 hours up to now (prices unrounded)."""

    open: float
    high: float
    low: float
    last: float
    volume: float
    quote_volume: float
    trades: int
    day_open: float  # open of the current UTC day
    day_high: float
    day_low: float
    day_volume: float
    day_quote_volume: float
    day_trades: int


def rolling_24h(req: SimRequest, exchange: str, asset: Asset) -> Rolling:
    now_rel = req.now_s - market.EPOCH0_S
    open_i, elapsed = divmod(now_rel, HOUR)
    closed = market.hourly_candles(req.seed, exchange, asset.asset_id, open_i - 24, open_i)
    if elapsed:
        part = market.partial_hour(req.seed, exchange, asset.asset_id, open_i, elapsed)
        arrays = [closed, part]
    else:
        arrays = [closed]

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(a, name) for a in arrays])

    o, h, low, c, v, tr = (cat(n) for n in ("open", "high", "low", "close", "volume", "trades"))
    vwap = np.concatenate([a.vwap for a in arrays])
    # The 24h window starts inside the oldest hour: weight it by the part inside the window.
    frac = np.ones(len(o))
    frac[0] = 1.0 - elapsed / HOUR
    vol = v * frac
    day_hours = open_i % 24 + (1 if elapsed else 0)
    d = slice(len(o) - day_hours, None) if day_hours else slice(len(o) - 1, None)
    return Rolling(
        open=float(o[0]),
        high=float(h.max()),
        low=float(low.min()),
        last=float(c[-1]),
        volume=float(vol.sum()),
        quote_volume=float((vol * vwap).sum()),
        trades=int((tr * frac).sum()),
        day_open=float(o[d][0]),
        day_high=float(h[d].max()),
        day_low=float(low[d].min()),
        day_volume=float(v[d].sum()),
        day_quote_volume=float((v[d] * vwap[d]).sum()),
        day_trades=int(tr[d].sum()),
    )


def trade_id(req: SimRequest, exchange: str, asset: Asset) -> int:
    """A monotone trade id: trades since EPOCH0 at a steady synthetic rate."""
    rate = {"binance": 12.0, "kraken": 0.8, "coinbase": 3.0, "mercadobitcoin": 0.2}[exchange]
    weight = 1.0 + len(asset.asset_id)
    return int((req.now_s - market.EPOCH0_S) * rate * weight)


def spread(price: float, dec: int) -> tuple[float, float]:
    tick = 10.0**-dec
    bid = round(math.floor(price / tick) * tick, dec)
    return bid, round(bid + tick, dec)


# ----------------------------------------------------------------------------- Binance

BINANCE_INTERVALS = {"1h": HOUR, "1d": DAY}
BINANCE_BAD_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}


def _binance_key_index(interval_s: int) -> Any:
    def index_of(key: Key) -> int:
        return (int(key[-1]) // 1000 - market.EPOCH0_S) // interval_s

    return index_of


def binance_klines(req: SimRequest) -> Reply:
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
        last_id = trade_id(req, "binance", asset)
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

    return _snapshot(req, endpoint, body, extract)


def binance_weight(path: str, query: Any) -> int:
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


def _snapshot(
    req: SimRequest, endpoint: str, body: Any, extract: Any, dumps: Any = compact
) -> Reply:
    def record() -> None:
        for key, rec in extract(body):
            req.state.truth.put(req.source, endpoint, key, rec)

    return Reply(200, dumps(body), endpoint, record=record, extract=extract, dumps=dumps)


# ------------------------------------------------------------------------------ Kraken

KRAKEN_INTERVALS = {60: HOUR, 1440: DAY}


def _kraken_error(message: str) -> Reply:
    return error(200, {"error": [message]})


def kraken_ohlc(req: SimRequest) -> Reply:
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
        tid = trade_id(req, "kraken", asset)
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

    return _snapshot(req, endpoint, body, extract)


# ---------------------------------------------------------------------------- Coinbase

COINBASE_GRANULARITIES = {3600: HOUR, 86400: DAY}


def _parse_time(text: str) -> int:
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return math.floor(t.timestamp())


def coinbase_candles(req: SimRequest) -> Reply:
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
    endpoint = "/products/{id}/ticker"
    product = req.match["product_id"]
    asset = listed(req, "coinbase").get(product)
    if asset is None:
        return error(404, {"message": "NotFound"})
    r = rolling_24h(req, "coinbase", asset)
    dec = market.price_decimals("coinbase", asset.asset_id)
    bid, ask = spread(r.last, dec)
    tid = trade_id(req, "coinbase", asset)
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

    return _snapshot(req, endpoint, body, extract)


# ----------------------------------------------------------------------- Mercado Bitcoin

MB_RESOLUTIONS = {"1h": HOUR, "1d": DAY}


def _mb_error(status: int, code: str, message: str) -> Reply:
    return error(status, {"code": code, "message": message})


def mb_tickers(req: SimRequest) -> Reply:
    endpoint = "/tickers"
    symbols = listed(req, "mercadobitcoin")
    wanted = [s for s in req.query.get("symbols", "").split(",") if s]
    if not wanted:
        return _mb_error(400, "API|INVALID_PARAMETER", "symbols is required")
    if any(s not in symbols for s in wanted):
        return _mb_error(400, "API|INVALID_SYMBOL", "Invalid symbol")
    out = []
    for symbol in wanted:
        asset = symbols[symbol]
        r = rolling_24h(req, "mercadobitcoin", asset)
        dec = market.price_decimals("mercadobitcoin", asset.asset_id)
        bid, ask = spread(r.last, dec)
        out.append(
            {
                "pair": symbol,
                "high": f"{round(r.high, dec):.8f}",
                "low": f"{round(r.low, dec):.8f}",
                "vol": f"{r.volume:.8f}",
                "last": f"{round(r.last, dec):.8f}",
                "buy": f"{bid:.8f}",
                "sell": f"{ask:.8f}",
                "open": f"{round(r.open, dec):.8f}",
                "date": req.now_s,
            }
        )

    def extract(obj: Any) -> Records:
        return [((t.get("pair"), t.get("date")), t) for t in obj if isinstance(t, dict)]

    return _snapshot(req, endpoint, out, extract)


def mb_candles(req: SimRequest) -> Reply:
    endpoint = "/candles"
    symbol = req.query.get("symbol", "")
    asset = listed(req, "mercadobitcoin").get(symbol)
    if asset is None:
        return _mb_error(400, "API|INVALID_SYMBOL", "Invalid symbol")
    resolution = req.query.get("resolution", "")
    interval_s = MB_RESOLUTIONS.get(resolution)
    if interval_s is None:
        return _mb_error(400, "API|INVALID_PARAMETER", "Invalid resolution")
    try:
        to = parse_int(req.query.get("to"))
        frm = parse_int(req.query.get("from"))
        countback = parse_int(req.query.get("countback"))
    except ValueError:
        return _mb_error(400, "API|INVALID_PARAMETER", "Invalid parameter")
    if to is None:
        return _mb_error(400, "API|INVALID_PARAMETER", "to is required")
    hi = (to - market.EPOCH0_S) // interval_s
    if countback is not None:
        window = select_window(req, interval_s, hi - countback + 1, hi, countback, newest=True)
    else:
        lo = None if frm is None else first_index_at_or_after(frm, interval_s)
        window = select_window(req, interval_s, lo, hi, 10**9, newest=True)
    rows, open_row = window_rows(req, MERCADOBITCOIN, asset, interval_s, window)

    def row_record(row: Any) -> tuple[Key, Any]:
        rec = dict(zip(("t", "o", "h", "l", "c", "v"), (json.loads(x) for x in row), strict=True))
        return (symbol, resolution, rec["t"]), rec

    def to_records(rows_: list[Any]) -> Records:
        return [row_record(r) for r in rows_]

    def index_of(k: Key) -> int:
        return (int(k[-1]) - market.EPOCH0_S) // interval_s

    def extract(obj: Any) -> Records:
        cols = [obj.get(n) or [] for n in ("t", "o", "h", "l", "c", "v")]
        return [
            ((symbol, resolution, vals[0]), dict(zip("tohlcv", vals, strict=True)))
            for vals in zip(*cols, strict=False)
        ]

    return Reply(
        200,
        mb_body(rows),
        endpoint,
        record=record_window(
            req,
            endpoint,
            MERCADOBITCOIN,
            asset,
            interval_s,
            window,
            (symbol, resolution),
            open_row,
            to_records,
            index_of,
        ),
        extract=extract,
    )
