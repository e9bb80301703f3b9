"""Mercado Bitcoin v4: ``/tickers`` and ``/candles`` (BRL market, columnar candles)."""

from __future__ import annotations

import json
import re
from typing import Any

from ingestion.simulator import listings, market
from ingestion.simulator.candles import CandleFormat, record_window, window_rows
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
from ingestion.simulator.tickers import listed, rolling_24h, spread
from ingestion.simulator.universe import CATALOGUE

HOUR, DAY = market.HOUR, market.DAY


def _quoted_trimmed(values: list[float], dec: int) -> list[bytes]:
    """Each of ``values`` with ``dec`` decimals, trailing zeros (and point) cut, quoted.

    ``2.50`` is ``"2.5"``, ``3.00`` is ``"3"``, as Mercado Bitcoin writes its numbers.
    """
    fmt = b"%%.%df" % dec
    if dec <= 0:  # no decimal point: nothing to cut
        return [b'"' + fmt % x + b'"' for x in values]
    # "%.Nf" of a finite number always has its point; "inf" and "nan" have no zeros to lose
    return [b'"' + (fmt % x).rstrip(b"0").rstrip(b".") + b'"' for x in values]


def _mb_rows(a: market.CandleArrays, asset_id: str, interval_s: int, _: int) -> list[Any]:
    dec = market.price_decimals("mercadobitcoin", asset_id)
    o, h, low, c = (_quoted_trimmed(rounded(x, dec), dec) for x in (a.open, a.high, a.low, a.close))
    vol = _quoted_trimmed(rounded(a.volume, 8), 8)
    t = [b"%d" % ti for ti in a.open_time.tolist()]
    return list(zip(t, o, h, low, c, vol, strict=True))


def mb_body(rows: list[Any]) -> bytes:
    """Mercado Bitcoin's columnar candle body, ``{"t":[...],"o":[...],...}``, from rows."""
    cols = list(zip(*rows, strict=True)) if rows else [()] * 6
    parts = [
        b'"%s":[%s]' % (name, b",".join(col))
        for name, col in zip((b"t", b"o", b"h", b"l", b"c", b"v"), cols, strict=True)
    ]
    return b"{" + b",".join(parts) + b"}"


MERCADOBITCOIN = CandleFormat("mercadobitcoin", _mb_rows)

MB_RESOLUTIONS = {"1m": 60, "15m": 900, "1h": HOUR, "3h": 3 * HOUR, "1d": DAY}


def _mb_error(status: int, code: str, message: str) -> Reply:
    return error(status, {"code": code, "message": message})


def mb_tickers(req: SimRequest) -> Reply:
    """``GET /tickers``: last, bid, ask and 24h figures of each symbol in ``symbols``."""
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

    return snapshot(req, endpoint, out, extract)


def mb_candles(req: SimRequest) -> Reply:
    """``GET /candles``: candles of one symbol at ``resolution``, ``from``/``to``/``countback``."""
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


def _rate_limited(retry_after: str) -> Reply:
    body = {"code": "API|TOO_MANY_REQUESTS", "message": "Too many requests"}
    return Reply(429, compact(body), headers={"Retry-After": retry_after})


# ---------------------------------------------------------------- the listing
MB_FIELDS = (
    "symbol",
    "description",
    "currency",
    "base-currency",
    "exchange-listed",
    "exchange-traded",
    "minmovement",
    "pricescale",
    "type",
    "timezone",
    "session-regular",
    "withdrawal-fee",
)


def mb_symbols(req: SimRequest) -> Reply:
    """``/symbols``: parallel arrays, one per field; ``symbols=`` filters."""
    names = {a.asset_id: a.name for a in CATALOGUE}
    wanted = {s for s in req.query.get("symbols", "").split(",") if s}
    rows = [
        p
        for p in listings.pairs(req, "mercadobitcoin", "traded", "BRL")
        if not wanted or p.symbol in wanted
    ]
    columns: dict[str, list[Any]] = {name: [] for name in MB_FIELDS}
    for pair in rows:
        traded = pair.status == "traded"
        values = (
            pair.symbol,
            names.get(pair.base, pair.base.title()),
            pair.quote,
            pair.base,
            pair.status != "unlisted",
            traded,
            "1",
            10 ** listings.decimals(pair),
            "CRYPTO",
            "America/Sao_Paulo",
            "24x7",
            "",
        )
        for name, value in zip(MB_FIELDS, values, strict=True):
            columns[name].append(value)

    def extract(b: Any) -> Records:
        """Each row of the parallel arrays as served: every array's value at its index."""
        if not isinstance(b, dict) or not isinstance(b.get("symbol"), list):
            return []
        arrays = {name: values for name, values in b.items() if isinstance(values, list)}
        return [
            ((symbol,), {name: (v[i] if i < len(v) else None) for name, v in arrays.items()})
            for i, symbol in enumerate(b["symbol"])
        ]

    return snapshot(req, "/symbols", columns, extract)


SOURCE = SimSource(
    name="mercadobitcoin",
    prefix="/mercadobitcoin/api/v4",
    routes=(
        (re.compile(r"/tickers/?"), mb_tickers),
        (re.compile(r"/candles/?"), mb_candles),
        (re.compile(r"/symbols/?"), mb_symbols),
    ),
    rate_limited=_rate_limited,
)
