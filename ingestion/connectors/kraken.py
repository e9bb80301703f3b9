"""Kraken: ``/0/public/OHLC`` (1 … 1440 minutes), ``/0/public/Ticker``, ``/0/public/AssetPairs``.

OHLC intervals are 1, 5, 15, 60, 240 and 1440 minutes.

OHLC returns only the last ~720 candles whatever ``since`` says: history older than that
cannot be fetched and is reported in the run notes. Errors arrive as HTTP 200 with
``{"error": [...]}`` (the HTTP client handles those). The result is keyed by Kraken's own
pair name (``XXBTZUSD`` for the requested ``XBTUSD``).

AssetPairs is the listing, keyed by that result name. Kraken's asset codes are its own:
older assets carry an ``X`` (crypto) or ``Z`` (fiat) prefix (``XXBT``, ``XETH``, ``ZUSD``),
newer ones do not (``SOL``, ``USDT``), and two tickers differ from everyone else's
(``XBT`` = BTC, ``XDG`` = DOGE). A pair is requested by its ``altname`` (``XBTUSD``).
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
    check_numeric,
    floor_time,
    served_intervals,
    to_s,
    utc_from_seconds,
    valid_rows,
)
from ingestion.connectors.source import BodyErrors, Exchange, Source
from ingestion.connectors.tables import key
from ingestion.listings import Listing, text

SOURCE = "kraken"
OHLC_SERVED = 720  # candles Kraken keeps per pair and interval
# Kraken's intervals, in minutes (it also has 30, 10080 and 21600).
OHLC_INTERVALS = {"1m": "1", "5m": "5", "15m": "15", "1h": "60", "4h": "240", "1d": "1440"}
MINUTES_TO_INTERVAL = {minutes: label for label, minutes in OHLC_INTERVALS.items()}
OHLC_NUMBERS = ("open", "high", "low", "close", "vwap", "volume")


def _errors(body: Any) -> list[str]:
    """Kraken's ``{"error": [...]}`` list (a 200 can carry it instead of a result)."""
    if isinstance(body, dict):
        errors = body.get("error")
        if isinstance(errors, list):
            return [str(e) for e in errors]
    return []


DESCRIPTION = Source(
    name=SOURCE,
    title="Kraken",
    base_url="https://api.kraken.com",
    rate_limit=50,  # public counter: ~1 call a second
    body_errors=BodyErrors(
        read=_errors,
        transient=("EAPI:Rate limit exceeded", "EService:Unavailable", "EService:Busy"),
        rate_limited=("EAPI:Rate limit",),
    ),
    exchange=Exchange(
        quote_currency="USD",
        name="Kraken",
        listing="asset_pairs",
        read_listing=lambda key, record: read_listing(key, record),
        country_code="US",
        website_url="https://www.kraken.com",
    ),
)


def _results(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("result"), dict):
        raise InvalidRecord('expected {"error": [], "result": {...}}')
    return body["result"]


def plan_ohlc(ctx: PlanContext) -> list[PlannedRequest]:
    """OHLC requests per pair and interval, within the last candles Kraken serves.

    The part of a window older than that is noted as lost, not requested.
    """
    requests = []
    for asset in ctx.skip(SOURCE, ctx.assets, lambda a: a.symbol(SOURCE)):
        pair, answer = str(asset.symbol(SOURCE)), str(asset.key(SOURCE))
        for interval, minutes in served_intervals(ctx, SOURCE, OHLC_INTERVALS):
            seconds = INTERVAL_SECONDS[interval]
            window = ctx.window((answer, interval))
            if window.start >= window.end:
                continue
            oldest = floor_time(ctx.now, seconds) - timedelta(seconds=seconds * (OHLC_SERVED - 1))
            if window.start < oldest:
                lost_to = min(oldest, window.end)
                ctx.notes.append(
                    f"{pair} {interval}: Kraken serves only the last {OHLC_SERVED} "
                    f"candles; {window.start:%Y-%m-%d %H:%M} .. {lost_to:%Y-%m-%d %H:%M} "
                    "cannot be fetched"
                )
            if window.end <= oldest:
                continue
            # `since` is exclusive: ask from just before the window so its first candle comes.
            since = max(floor_time(window.start, seconds), oldest) - timedelta(seconds=1)
            step = timedelta(seconds=seconds)
            # Kraken's oldest served candle moves with its clock: don't require that one.
            first = max(floor_time(window.start, seconds), oldest + step)
            last = floor_time(window.end - timedelta(microseconds=1), seconds)
            requests.append(
                PlannedRequest(
                    "/0/public/OHLC",
                    {
                        "pair": pair,
                        "interval": minutes,
                        "since": str(to_s(since)),
                    },
                    group=f"{pair} {interval}",
                    # The result is keyed by Kraken's own pair name: every record is the series.
                    expect=(Expected(None, first, last, step),),
                )
            )
    return requests


def parse_ohlc(
    path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParseResult:
    """OHLC rows of every pair in the result, keyed by pair, interval and open time.

    Raises:
        InvalidRecord: the interval is not one criptopipe loads.
    """
    interval = MINUTES_TO_INTERVAL.get(params["interval"])
    if interval is None:
        raise InvalidRecord(f"interval {params['interval']!r} is not one criptopipe loads")
    result = ParseResult()

    def build(pair: str, row: Any) -> Record:
        if not isinstance(row, list) or len(row) < 7:
            raise InvalidRecord(f"OHLC row is not an array of 8 fields: {row!r:.80}")
        check_numbers(OHLC_NUMBERS, row[1:7])
        return Record((pair, interval, utc_from_seconds(row[0])), row)

    for pair, rows in _results(body).items():
        if pair == "last" or not isinstance(rows, list):
            continue
        fast = valid_rows(rows, (pair, interval), 7, 7)
        if fast is not None:  # the usual pair: every row valid
            result.records.extend(fast)
            continue
        for row in rows:
            result.add(row, build, pair, row)
    return result


def plan_ticker(ctx: PlanContext) -> list[PlannedRequest]:
    """One ticker request for every pair Kraken lists; none when it lists none."""
    pairs = [
        str(a.symbol(SOURCE)) for a in ctx.skip(SOURCE, ctx.assets, lambda a: a.symbol(SOURCE))
    ]
    return [PlannedRequest("/0/public/Ticker", {"pair": ",".join(pairs)})] if pairs else []


def parse_ticker(
    path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParseResult:
    """Tickers of every pair in the result, keyed by pair and the fetch time (to the second)."""
    observed_at = fetched_at.replace(microsecond=0)
    result = ParseResult()

    def build(pair: str, value: Any) -> Record:
        if not isinstance(value, dict):
            raise InvalidRecord(f"ticker of {pair} is not an object")
        last = value.get("c")
        if not isinstance(last, list) or not last:
            raise InvalidRecord(f"ticker of {pair} has no last trade price `c`")
        check_numeric("c[0] (last price)", last[0])
        return Record((pair, observed_at), value)

    for pair, value in _results(body).items():
        result.add(value, build, pair, value)
    return result


# Kraken's legacy asset codes without their X/Z prefix, and its two tickers of its own.
LEGACY_CODES = frozenset(
    [
        "XBT",
        "XDG",
        "ETH",
        "ETC",
        "LTC",
        "XRP",
        "XLM",
        "XMR",
        "ZEC",
        "REP",
        "MLN",
        "NMC",
        "XVN",
        "ICN",
        "DAO",
        "USD",
        "EUR",
        "GBP",
        "CAD",
        "JPY",
        "CHF",
        "AUD",
    ]
)
TICKERS = {"XBT": "BTC", "XDG": "DOGE"}
# online and limit_only pairs trade; cancel_only, post_only, reduce_only and
# maintenance pairs match no new trades (halted); delisted pairs are gone.
ACTIVE_STATUSES = frozenset({"online", "limit_only"})


def ticker(code: str) -> str:
    """A Kraken asset code as a common ticker: ``XXBT`` and ``XBT`` → BTC, ``ZUSD`` → USD."""
    code = code.upper()
    if len(code) == 4 and code[0] in "XZ" and code[1:] in LEGACY_CODES:
        code = code[1:]
    return TICKERS.get(code, code)


def plan_asset_pairs(ctx: PlanContext) -> list[PlannedRequest]:
    """One request for every pair (halted and cancel-only pairs included)."""
    return [PlannedRequest("/0/public/AssetPairs", {})]


def parse_asset_pairs(
    path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParseResult:
    """One record per result entry, keyed by Kraken's own pair name (``XXBTZUSD``)."""
    result = ParseResult()

    def build(pair: str, value: Any) -> Record:
        if not isinstance(value, dict):
            raise InvalidRecord(f"asset pair {pair} is not an object")
        return Record((pair,), value)

    for pair, value in _results(body).items():
        result.add(value, build, pair, value)
    return result


def read_listing(key: tuple[KeyValue, ...], record: Any) -> Listing:
    """An AssetPairs entry as a :class:`Listing`, with common tickers for base and quote.

    ``wsname`` (``XBT/USD``) names both sides without prefixes; without it the codes in
    ``base``/``quote`` are read through :func:`ticker`.
    """
    wsname = record.get("wsname") if isinstance(record, dict) else None
    if isinstance(wsname, str) and wsname.count("/") == 1:
        base, quote = wsname.split("/")
    else:
        base, quote = text(record, "base"), text(record, "quote")
    status = record.get("status") or "online"  # older answers had no status: all online
    return Listing(
        SOURCE,
        symbol=text(record, "altname"),
        key=str(key[0]),
        base=ticker(base),
        quote=ticker(quote),
        status=str(status),
        is_active=status in ACTIVE_STATUSES,
    )


ENDPOINTS = (
    EndpointSpec(
        SOURCE,
        "ohlc",
        "Kraken candles (1, 5, 15, 60, 240, 1440 minutes) against USD; last 720 only.",
        is_time_windowed=True,
        cadence="5 * * * *",
        plan=plan_ohlc,
        parse=parse_ohlc,
        keys=(key("pair"), key("interval"), key("open_time", "timestamptz")),
        record_shape=(
            "one OHLC row as sent: [time s, o, h, l, c, vwap, volume, count]; `pair` is Kraken's "
            "result key (XXBTZUSD); interval is '1h' or '1d'"
        ),
        ohlc=True,
        page_cap=OHLC_SERVED,
        history_limit="only the last 720 candles per pair and interval",
    ),
    EndpointSpec(
        SOURCE,
        "ticker",
        "Kraken ticker of every tracked pair (no timestamp: fetch time).",
        is_time_windowed=False,
        cadence="*/15 * * * *",
        plan=plan_ticker,
        parse=parse_ticker,
        keys=(key("pair"), key("observed_at", "timestamptz")),
        record_shape=(
            "one Ticker result value (object of string arrays) as sent; Kraken gives no timestamp, "
            "so observed_at is the fetch time truncated to the second"
        ),
    ),
    EndpointSpec(
        SOURCE,
        "asset_pairs",
        "Kraken's listing: every asset pair with altname, wsname, base, quote and status.",
        is_time_windowed=False,
        cadence="10 * * * *",
        plan=plan_asset_pairs,
        parse=parse_asset_pairs,
        keys=(key("pair"),),
        record_shape=(
            "one AssetPairs result value as sent (altname, wsname, base, quote, status, fees, …); "
            "`pair` is the result key (XXBTZUSD)"
        ),
        is_listing=True,
        needs_assets=False,
    ),
)
