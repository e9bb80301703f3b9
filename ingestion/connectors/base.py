"""What a connector is: declarative endpoint specs, request plans, records and validation.

An :class:`EndpointSpec` says, for one API endpoint, which raw table it lands in, how often
it changes, how to plan the requests of a run (paths, params, pages by the API's cap) and
how to turn a response body into records with natural keys. Parsers only need the request
(path and params), the body and the fetch time, so ``replay`` can rebuild ``raw.*`` from
the lake with exactly the same code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from itertools import chain, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from ingestion.connectors.tables import KeyColumn, RawTable
from ingestion.errors import InvalidRecord
from ingestion.intervals import INTERVAL_SECONDS
from ingestion.resolution import Asset

if TYPE_CHECKING:  # settings read the connectors' source descriptions: no import cycle
    from ingestion.settings import Settings

# Timestamps outside this range are "impossible" and quarantined by the parsers. Records
# dated after the run's clock plus one interval are quarantined by the runner (it knows the
# clock; parsers do not).
EARLIEST_VALID = datetime(2009, 1, 3, tzinfo=UTC)
LATEST_VALID = datetime(2100, 1, 1, tzinfo=UTC)

KeyValue = str | datetime | date
RECORD_KEY = itemgetter(0)  # a Record's key, for map()
RECORD_VALUE = itemgetter(1)  # a Record's record, for map()
KEY_SERIES = itemgetter(slice(None, -1))  # a key's columns before its last (the series)
KEY_TIME = itemgetter(-1)  # a key's last column (a candle's time)


class Record(NamedTuple):
    """One record: natural-key values (in the raw table's key order) and the record as sent.

    A named tuple, not a frozen dataclass: one is made per record, and a frozen dataclass
    takes about three times as long to build.
    """

    key: tuple[KeyValue, ...]
    record: Any


# tuple.__new__ over (key, record) pairs, all in C: a NamedTuple's own constructor is a
# Python function, ~0.3 µs a record (6 % of a 1m backfill's CPU with RawRow's).
_NEW_RECORD: Callable[[tuple[tuple[KeyValue, ...], Any]], Record] = partial(tuple.__new__, Record)


def records_of(keys: Iterable[tuple[KeyValue, ...]], values: Iterable[Any]) -> list[Record]:
    """``[Record(key, value) for key, value in zip(keys, values)]``, built in C (a page's)."""
    return list(map(_NEW_RECORD, zip(keys, values, strict=True)))


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that failed validation, with the reason."""

    reason: str
    record: Any


def _as_instant(value: date) -> datetime:
    """A datetime as is; a date as its UTC midnight."""
    if isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


@dataclass(slots=True)
class ParseResult:
    """What a parser made of one page: the valid records, and the rejected ones with reasons."""

    records: list[Record] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def add(self, raw: Any, build: Callable[..., Record], *args: Any) -> None:
        """Append ``build(*args)``, or reject ``raw`` with the reason when it raises.

        Any exception: a record of an unexpected shape (``null`` where an object was, a list
        where a number was…) is that record's problem, never the page's.
        """
        try:
            self.records.append(build(*args))
        except Exception as err:
            self.rejected.append(Rejected(error_reason(err), raw))

    @property
    def time_range(self) -> tuple[datetime | None, datetime | None]:
        """The oldest and newest time key of the records, as UTC instants; (None, None) if none."""
        # Every raw table has one time key, so a page's times are all datetimes or all
        # dates: compare, then convert. The usual page (this runs for every page): the time
        # is the key's last column, and its series (the columns before) hold no date.
        keys = list(map(RECORD_KEY, self.records))
        times = list(map(KEY_TIME, keys))
        if set(map(type, times)) != {datetime} or any(
            isinstance(v, date) for head in set(map(KEY_SERIES, keys)) for v in head
        ):
            times = [t for key in keys for t in key if isinstance(t, date)]
        if not times:
            return None, None
        return _as_instant(min(times)), _as_instant(max(times))


def error_reason(err: BaseException) -> str:
    """A quarantine reason: an :class:`InvalidRecord`'s message, else type and message."""
    if isinstance(err, InvalidRecord):
        return str(err)
    return f"{type(err).__name__}: {err}"[:500]


@dataclass(frozen=True, slots=True)
class ParsedPage:
    """What :func:`parse_page` made of one body: the records, or why the page failed."""

    result: ParseResult
    error: str | None = None  # the page's quarantine reason (the body is in the lake)
    first: datetime | None = None  # the time range its records cover
    last: datetime | None = None


def parse_page(
    spec: EndpointSpec, path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParsedPage:
    """Parse one response body with ``spec``'s parser; never raises.

    Whatever a body holds, the outcome is records and rejected records, or — when the
    page as a whole is not what the parser expects (any exception outside one record) —
    an empty result and the page's reason, for ``raw.quarantine``. So nothing a response
    contains can end an endpoint's run, and ``lake replay`` goes past any stored body.
    """
    try:
        result = spec.parse(path, params, body, fetched_at)
        first, last = result.time_range
    except Exception as err:
        return ParsedPage(ParseResult(), f"unexpected body: {error_reason(err)}")
    return ParsedPage(result, None, first, last)


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One request of a run, and the series it feeds.

    ``group`` names that series (e.g. ``BTCUSDT 1h``): pages of one group are loaded in order,
    and after a failed page the group stops, so the newest loaded record is always the end of a
    gap-free prefix.
    """

    path: str
    params: dict[str, str]
    group: str = ""
    expect: tuple[Expected, ...] = ()  # what the page must hold (short page = failed page)


@dataclass(frozen=True, slots=True)
class Expected:
    """Periods a page must hold: ``first`` .. ``last`` (inclusive) every ``step``.

    They are periods of the series ``series`` (its key columns before the time; None: every
    record of the page). Only periods that had closed when the page was fetched are required,
    and with a ``calendar`` only the days it says are published (FX: ECB business days).
    """

    series: tuple[str, ...] | None
    first: datetime
    last: datetime
    step: timedelta
    calendar: Callable[[date], bool] | None = None

    def required_count(self, fetched_at: datetime) -> int | None:
        """How many periods are required, when they are every period from ``first`` on.

        Then :meth:`required` is ``first``, ``first + step``, … (this many of them); None
        when a calendar picks the days (or the step is not positive).
        """
        if self.calendar is not None or self.step <= timedelta(0):
            return None
        # t <= last and t + step <= fetched_at, for t = first, first + step, ...
        end = min(self.last, fetched_at - self.step)
        return 0 if end < self.first else (end - self.first) // self.step + 1

    def required(self, fetched_at: datetime) -> list[datetime]:
        """The periods the page must hold, given that it was fetched at ``fetched_at``."""
        count = self.required_count(fetched_at)
        if count is not None:  # every period: counted
            return [self.first + self.step * i for i in range(count)]
        periods = []
        t = self.first
        while t <= self.last and t + self.step <= fetched_at:
            if self.calendar is None or self.calendar(t.date()):
                periods.append(t)
            t += self.step
        return periods


@dataclass(frozen=True, slots=True)
class Window:
    """The half-open time range [start, end) a series should cover in this run."""

    start: datetime
    end: datetime


@dataclass(slots=True)
class PlanContext:
    """What planning needs: configuration, assets, the run's window and loaded cursors."""

    settings: Settings
    assets: tuple[Asset, ...]
    now: datetime
    start: datetime | None  # explicit backfill start (None: incremental)
    end: datetime | None  # explicit backfill end (exclusive)
    cursors: Mapping[tuple[str, ...], datetime]  # where each series resumes (incremental)
    notes: list[str] = field(default_factory=list)
    # The oldest candle of each series that was still open when last fetched: every mode
    # fetches it again (a partition run of today re-fetches yesterday's last hour).
    reopen: Mapping[tuple[str, ...], datetime] = field(default_factory=dict)

    def window(self, series: tuple[str, ...]) -> Window:
        """The window to fetch for ``series``.

        Backfill: [start, end), widened back to the oldest candle still open at its last fetch.
        Incremental: from there (or just after the newest loaded candle, or the configured start
        date), up to now.
        """
        end = min(self.end or self.now, self.now)
        if self.start is not None:
            reopen = self.reopen.get(series)
            if reopen is not None and reopen < self.start:
                self.notes.append(
                    f"{' '.join(series)}: re-fetching from {reopen:%Y-%m-%d %H:%M}"
                    ", still open when last fetched"
                )
                return Window(reopen, end)
            return Window(self.start, end)
        cursor = self.cursors.get(series)
        if cursor is not None:
            return Window(cursor, end)
        start = datetime.combine(self.settings.start_date, datetime.min.time(), tzinfo=UTC)
        return Window(start, end)

    def skip(
        self, exchange: str, assets: Iterable[Asset], symbol: Callable[[Asset], Any]
    ) -> list[Asset]:
        """Assets ``exchange`` trades; the others are named in the run notes.

        A halted or delisted pair is named with its status (the listing's).
        """
        listed: list[Asset] = []
        missing: list[Asset] = []
        halted: list[Asset] = []
        for asset in assets:
            if symbol(asset):
                listed.append(asset)
            elif exchange in asset.pairs:
                halted.append(asset)
            else:
                missing.append(asset)
        if missing:
            self.notes.append(
                f"not listed on {exchange}, skipped: {', '.join(a.asset_id for a in missing)}"
            )
        if halted:
            self.notes.append(
                f"halted or delisted on {exchange}, no longer requested: "
                + ", ".join(f"{a.asset_id} ({a.reason(exchange)})" for a in halted)
            )
        return listed


Planner = Callable[[PlanContext], list[PlannedRequest]]
Parser = Callable[[str, Mapping[str, str], Any, datetime], ParseResult]


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """One API endpoint, declaratively.

    ``is_time_windowed``: a time series that a window of time selects, so it can be
    backfilled (candles, and daily series such as FX rates and Fear & Greed): these are the
    endpoints to partition by time; the others are snapshots of "now".
    ``cadence``: a cron expression for how often new data appears worth fetching.
    ``keys`` and ``record_shape``: its raw table's natural-key columns and what one
    ``record`` holds (the raw table contract is read from these); ``ohlc``: the rows are
    OHLC candles (the table gets an index on ``last_seen_at`` for dbt's candle marts).
    """

    source: str
    endpoint: str
    description: str
    is_time_windowed: bool
    cadence: str
    plan: Planner
    parse: Parser
    keys: tuple[KeyColumn, ...]
    record_shape: str
    ohlc: bool = False
    page_cap: int | None = None
    history_limit: str | None = None  # the provider's history limit, in words
    # Why the provider leaves periods out (e.g. Coinbase: no candle for an hour without
    # trades): such holes inside a page are recorded in raw.known_empty, not failed on.
    omits_empty_periods: str | None = None
    # The publishing calendar the gap sensor checks a daily series without an interval key
    # against: "ecb" (ECB business days, FX) or "daily" (every day); None: not checked.
    gap_calendar: str | None = None
    # A listing (which pairs or coins exist): planned without the assets and loaded first
    # in a run, because resolving the configured assets to symbols reads it.
    is_listing: bool = False
    # Planned from the resolved assets (their symbols or CoinGecko ids): a run resolves the
    # configured assets, from the listings, before it plans such an endpoint. False for the
    # listings and for series of the whole market (Fear & Greed, FX, CoinGecko's global).
    needs_assets: bool = True

    @property
    def raw_table(self) -> RawTable:
        """The ``raw.<source>__<endpoint>`` table this endpoint lands in."""
        return RawTable(self.source, self.endpoint, self.keys, self.record_shape, ohlc=self.ohlc)

    @property
    def name(self) -> str:
        """``source/endpoint``, the name logs and the CLI use."""
        return f"{self.source}/{self.endpoint}"

    @property
    def asset_key(self) -> tuple[str, str, str]:
        """The endpoint's Dagster asset key: ``raw/<source>/<endpoint>``."""
        return ("raw", self.source, self.endpoint)


# --------------------------------------------------------------------------- helpers
def utc_from_seconds(value: Any) -> datetime:
    """An epoch-seconds value (int or numeric string) as a checked UTC datetime."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise InvalidRecord(f"timestamp {value!r} is not a number") from None
    if not math.isfinite(seconds):
        raise InvalidRecord(f"timestamp {value!r} is not finite")
    return check_time(seconds)


def utc_from_millis(value: Any) -> datetime:
    """An epoch-milliseconds value (int or numeric string) as a checked UTC datetime.

    Raises:
        InvalidRecord: not a finite number, or outside the plausible range.
    """
    try:
        millis = float(value)
    except (TypeError, ValueError):
        raise InvalidRecord(f"timestamp {value!r} is not a number") from None
    if not math.isfinite(millis):
        raise InvalidRecord(f"timestamp {value!r} is not finite")
    return check_time(millis / 1000.0)


_EARLIEST_S = EARLIEST_VALID.timestamp()
_LATEST_S = LATEST_VALID.timestamp()


def check_time(seconds: float) -> datetime:
    """Epoch ``seconds`` as a UTC datetime, checked to lie between 2009 and 2100.

    Raises:
        InvalidRecord: the time is outside that range (a unit mistake, a corrupt value).
    """
    if not _EARLIEST_S <= seconds <= _LATEST_S:
        raise InvalidRecord(f"impossible timestamp {seconds!r} (epoch seconds)")
    return datetime.fromtimestamp(seconds, UTC)


def utc_from_iso(value: Any) -> datetime:
    """An ISO-8601 string (``Z`` allowed; no offset means UTC) as a checked UTC datetime.

    Raises:
        InvalidRecord: not a non-empty ISO-8601 string, or outside the plausible range.
    """
    if not isinstance(value, str) or not value:
        raise InvalidRecord(f"timestamp {value!r} is not an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRecord(f"timestamp {value!r} is not ISO-8601") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return check_time(parsed.timestamp())


def check_numeric(name: str, value: Any, *, positive: bool = False) -> None:
    """Raise :class:`InvalidRecord` unless ``value`` is a finite number (or numeric string)."""
    if isinstance(value, bool) or value is None:
        raise InvalidRecord(f"{name} is {value!r}, not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidRecord(f"{name} {value!r} is not numeric") from None
    if not math.isfinite(number):
        raise InvalidRecord(f"{name} {value!r} is not finite")
    if positive and number <= 0:
        raise InvalidRecord(f"{name} {value!r} is not positive")


def _finite_json_numbers(texts: list[str]) -> bool:
    """Whether every one of ``texts`` is one finite JSON number (the usual page), in one read.

    The texts joined by commas are read as one JSON array by orjson: each text is one JSON
    number exactly when the array has as many elements as there are texts and each is a
    number (a text holding a comma gives two elements, and only brackets or quotes, whose
    element is no number, can merge two texts into one; an empty text is no JSON). A JSON
    number is what ``float`` reads too. False says nothing: the caller then asks ``float``.
    """
    try:
        values = orjson.loads("[" + ",".join(texts) + "]")
    except orjson.JSONDecodeError:  # not JSON numbers (or one past a double's range)
        return False
    return (
        len(values) == len(texts)
        and set(map(type, values)) <= {int, float}
        and all(map(math.isfinite, values))
    )


def all_finite_numbers(numbers: Sequence[Any]) -> bool:
    """Whether every one of ``numbers`` is a finite number or numeric string, never a bool.

    Raises:
        TypeError: a value ``float`` cannot take (a list, None…).
        ValueError: a string ``float`` cannot read.
    """
    types = set(map(type, numbers))
    if bool in types:
        return False
    if types == {str} and _finite_json_numbers(list(numbers)):
        return True  # numeric strings (Binance, Kraken, Mercado Bitcoin): read at once
    return all(map(math.isfinite, map(float, numbers)))


def valid_times(
    stamps: Sequence[Any], numbers: Sequence[Any], *, millis: bool = False
) -> list[datetime] | None:
    """The open times of a page's records, checked with their numbers at once; or None.

    When every one of ``numbers`` is a finite number (or numeric string, never a bool) and
    every one of ``stamps`` a plausible epoch time (milliseconds with ``millis``, else
    seconds), the times are exactly what :func:`utc_from_millis` or
    :func:`utc_from_seconds` gives for each. Anything else gives None: the caller then goes
    record by record, which finds each bad record and its reason.
    """
    try:
        if not all_finite_numbers(numbers):
            return None
        floats = list(map(float, stamps))
    except (TypeError, ValueError):
        return None
    if not all(map(math.isfinite, floats)):
        return None
    seconds = [value / 1000.0 for value in floats] if millis else floats
    if seconds and not (min(seconds) >= _EARLIEST_S and max(seconds) <= _LATEST_S):
        return None
    return list(map(datetime.fromtimestamp, seconds, repeat(UTC, len(seconds))))


_FIRST = itemgetter(0)


def valid_rows(
    rows: Sequence[Any],
    series: tuple[KeyValue, ...],
    min_fields: int,
    numbers_end: int,
    *,
    millis: bool = False,
) -> list[Record] | None:
    """The records of a page of candle rows, checked a check at a time; or None.

    The usual page (every row a list of at least ``min_fields`` fields, field 0 its open
    time, fields ``1 .. numbers_end - 1`` numbers; see :func:`valid_times`) gives exactly
    the records the row-by-row parsers build, keyed ``(*series, open time)``. Anything
    else gives None, for the caller's row-by-row path.
    """
    # C-level passes (map, set, chain, zip): this runs over every candle of a backfill
    if rows and (set(map(type, rows)) != {list} or min(map(len, rows)) < min_fields):
        return None
    times = valid_times(
        list(map(_FIRST, rows)),
        list(chain.from_iterable(map(itemgetter(slice(1, numbers_end)), rows))),
        millis=millis,
    )
    if times is None:
        return None
    return records_of(zip(*map(repeat, series), times, strict=False), rows)


def check_numbers(names: Sequence[str], values: Sequence[Any]) -> None:
    """:func:`check_numeric` for several values, with a fast path for the common case."""
    try:
        if all(map(math.isfinite, map(float, values))) and bool not in map(type, values):
            return
    except (TypeError, ValueError):
        pass
    for name, value in zip(names, values, strict=False):
        check_numeric(name, value)
    if len(values) < len(names):
        raise InvalidRecord(f"{names[len(values)]} is missing")


def require_text(name: str, value: Any) -> str:
    """``value``, a key column, checked to be a non-empty string.

    Raises:
        InvalidRecord: it is missing, empty or not a string.
    """
    if not isinstance(value, str) or not value:
        raise InvalidRecord(f"missing key {name} ({value!r})")
    return value


def to_ms(t: datetime) -> int:
    """``t`` in epoch milliseconds, as APIs take it in query parameters."""
    return int(t.timestamp() * 1000)


def to_s(t: datetime) -> int:
    """``t`` in epoch seconds, as APIs take it in query parameters."""
    return int(t.timestamp())


def floor_time(t: datetime, interval_s: int) -> datetime:
    """``t`` floored to a multiple of ``interval_s`` seconds since the epoch, in UTC."""
    seconds = int(t.timestamp()) // interval_s * interval_s
    return datetime.fromtimestamp(seconds, UTC)


def paged_windows(window: Window, interval_s: int, cap: int) -> list[tuple[datetime, datetime]]:
    """Split [start, end) into pages of at most ``cap`` candles: (first open, last open)."""
    start = floor_time(window.start, interval_s)
    pages: list[tuple[datetime, datetime]] = []
    if start >= window.end:
        return pages
    last_open = floor_time(window.end - timedelta(microseconds=1), interval_s)
    if last_open < start:
        return pages
    candles = int((last_open - start).total_seconds()) // interval_s + 1
    step = timedelta(seconds=interval_s * cap)
    for i in range(math.ceil(candles / cap)):
        page_start = start + i * step
        page_last = min(page_start + step - timedelta(seconds=interval_s), last_open)
        pages.append((page_start, page_last))
    return pages


def intervals(settings: Settings) -> tuple[str, ...]:
    """The configured candle intervals connectors know, finest first (``INTERVAL_SECONDS``)."""
    return tuple(i for i in INTERVAL_SECONDS if i in settings.candle_intervals)


def served_intervals(
    ctx: PlanContext, exchange: str, served: Mapping[str, str]
) -> list[tuple[str, str]]:
    """The configured intervals ``exchange`` serves, each with the API's own spelling.

    A configured interval it lacks is named in the run notes: the candle marts roll it up
    from the finest interval loaded instead.

    Args:
        ctx: The planning context (its settings name the intervals; its notes get the
            intervals the exchange lacks).
        exchange: The source name, for the note.
        served: criptopipe's labels mapped to the exchange's own (Kraken minutes,
            Coinbase granularity seconds…).

    Returns:
        (label, API spelling) pairs, finest first.
    """
    configured = intervals(ctx.settings)
    lacking = [i for i in configured if i not in served]
    if lacking:
        ctx.notes.append(
            f"{exchange} serves no {', '.join(lacking)} candles: the candle marts roll "
            "them up from the finest interval loaded"
        )
    return [(i, served[i]) for i in configured if i in served]
