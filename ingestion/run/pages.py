"""One fetched (or replayed) page: parsing it, checking it, and turning it into rows.

:func:`read_page` is the one parser of a page, shared by fetch and ``lake replay``, so a
replay rebuilds ``raw.*`` with exactly the code that loaded it. :func:`check_page` finds
a short page (the first period it lacks) and the holes a provider is known to leave;
:func:`collect` turns a page into rows to load and rows to quarantine, accounting for
every record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import sub
from typing import Any

from ingestion.connectors.base import (
    INTERVAL_SECONDS,
    KEY_SERIES,
    KEY_TIME,
    RECORD_KEY,
    RECORD_VALUE,
    EndpointSpec,
    Expected,
    KeyValue,
    ParseResult,
    PlannedRequest,
    Record,
    error_reason,
    parse_page,
)
from ingestion.http import Response, describe_request
from ingestion.run.results import EndpointStats
from ingestion.sinks.lake import StoredResponse
from ingestion.sinks.raw.copy_format import dumps, dumps_all, jsonb_problem
from ingestion.sinks.raw.cursors import SeriesState
from ingestion.sinks.raw.rows import KnownEmpty, QuarantineRow, RawRow, page_rows

SNAPSHOT_SLACK = timedelta(hours=1)  # a snapshot's timestamp may run ahead of our clock


@dataclass(slots=True)
class Page:
    """A response as the writer sees it: the request, the parsed records, its lake document.

    ``body_error`` is the page's quarantine reason when its body as a whole could not be
    parsed; ``first`` and ``last`` the time range its records cover; ``lake_ack`` the lake
    write of its document (None: already in the lake, as in a replay).
    """

    request: PlannedRequest
    response: Response
    parsed: ParseResult
    lake_document_id: str
    body_error: str | None = None
    lake_ack: asyncio.Future[StoredResponse] | None = None
    first: datetime | None = None
    last: datetime | None = None
    prepared: PreparedPage | None = None  # parsed by the parse process (ingestion.run.offload)

    @property
    def record_count(self) -> int:
        """How many records the page holds (rejected ones not counted)."""
        if self.prepared is not None:
            return len(self.prepared.keys)
        return len(self.parsed.records)


@dataclass(frozen=True, slots=True)
class PreparedPage:
    """A usual page as the parse process hands it back: its rows' keys and JSON texts.

    Only a page every record of which is fine as it is (none rejected, none dated after
    its fetch, all written by orjson as :func:`dumps` would) is prepared; it then needs
    nothing but these to be checked (:func:`check_page`) and loaded (:func:`collect`).

    Attributes:
        keys: Each record's natural key, in page order.
        texts: Each record's compact JSON text.
        coverages: What the page holds of each ``Expected`` of its request.
    """

    keys: list[tuple[KeyValue, ...]]
    texts: list[str]
    coverages: list[Coverage]


def read_page(
    spec: EndpointSpec, request: PlannedRequest, response: Response, lake_document_id: str
) -> Page:
    """Parse ``response`` with ``spec``'s parser; never raises.

    Args:
        spec: The endpoint the response belongs to.
        request: The request that was sent (its path and params go to the parser).
        response: The response, with its JSON body parsed.
        lake_document_id: The ``_id`` of the response's lake document.

    Returns:
        The page: its records and rejected records, or an empty result and the page's
        quarantine reason when the body as a whole is not what the parser expects.
    """
    parsed = parse_page(spec, request.path, request.params, response.data, response.fetched_at)
    return Page(
        request,
        response,
        parsed.result,
        lake_document_id,
        parsed.error,
        first=parsed.first,
        last=parsed.last,
    )


def prepare_page(
    spec: EndpointSpec, request: PlannedRequest, body: Any, fetched_at: datetime
) -> tuple[PreparedPage, datetime | None, datetime | None] | None:
    """A usual page parsed, checked and written as JSON texts, with its time range; or None.

    What the parse process does with a page (see ``ingestion.run.offload``): the same
    parser as :func:`read_page`, the coverage :func:`check_page` needs and the texts
    :func:`collect` would write. None for any page that needs more care (a body the parser
    refuses, a rejected record, a record dated after the fetch, one orjson does not write
    as :func:`dumps` does): that page is read in the run's process as before.
    """
    parsed = parse_page(spec, request.path, request.params, body, fetched_at)
    if parsed.error is not None or parsed.result.rejected:
        return None
    if parsed.last is None or parsed.last > fetched_at:
        return None
    records = parsed.result.records
    texts = dumps_all([record.record for record in records])
    if texts is None:
        return None
    keys = [record.key for record in records]
    return PreparedPage(keys, texts, coverages(records, request.expect, fetched_at)), *(
        parsed.first,
        parsed.last,
    )


def collect(
    spec: EndpointSpec,
    page: Page,
    rows: list[RawRow],
    rejected: list[QuarantineRow],
    stats: EndpointStats,
) -> None:
    """Turn a page into rows to load and rows to quarantine, counting every record.

    A page whose body could not be parsed becomes one quarantined row (its body is in the
    lake). A record dated after the run's clock plus one interval, one JSON cannot hold
    (NaN, Infinity, too deep) or one jsonb refuses (a NUL character) is quarantined with the
    reason, as are the parser's rejected records; the rest become rows.

    Args:
        spec: The endpoint of the page.
        page: The page.
        rows: Where the rows to load are appended.
        rejected: Where the rows to quarantine are appended.
        stats: The endpoint's numbers: ``fetched`` grows by every record of the page.
    """
    if page.prepared is not None:  # the parse process did the rest
        fetched_at, document_id = page.response.fetched_at, page.lake_document_id
        prepared = page.prepared
        rows.extend(page_rows(prepared.keys, prepared.texts, fetched_at, document_id))
        stats.fetched += len(prepared.keys)
        return
    if page.body_error is not None:
        # The page as a whole: its body is in the lake (lake_document_id), the reason here.
        rejected.append(
            QuarantineRow(
                spec.source, spec.endpoint, page.body_error, None, None, page.lake_document_id
            )
        )
        stats.fetched += 1
        stats.notes.append(
            f"GET {describe_request(page.request.path, page.request.params)}: "
            f"page quarantined ({page.body_error}); its body is lake "
            f"document {page.lake_document_id}"
        )
        return
    latest = latest_allowed(page.response.fetched_at)
    # No record of the page is dated after its fetch: none can be too late (the usual page).
    check_dates = page.last is None or page.last > page.response.fetched_at
    records = page.parsed.records
    texts = None if check_dates else dumps_all(list(map(RECORD_VALUE, records)))
    if texts is not None:  # the usual page: every record fine as it is, in one pass
        fetched_at, document_id = page.response.fetched_at, page.lake_document_id
        rows.extend(page_rows(map(RECORD_KEY, records), texts, fetched_at, document_id))
    for record in [] if texts is not None else page.parsed.records:
        too_late = dated_too_late(record, latest) if check_dates else None
        if too_late is not None:
            rejected.append(
                QuarantineRow(
                    spec.source, spec.endpoint, too_late, record.record, None, page.lake_document_id
                )
            )
            continue
        try:
            record_json = dumps(record.record)
        except ValueError:  # NaN or Infinity cannot go into jsonb
            rejected.append(
                QuarantineRow(
                    spec.source,
                    spec.endpoint,
                    "a number is NaN or Infinity, which JSON and jsonb cannot store",
                    None,
                    repr(record.record)[:10_000],
                    page.lake_document_id,
                )
            )
            continue
        except Exception as err:  # e.g. nested deeper than the encoder goes
            rejected.append(
                QuarantineRow(
                    spec.source,
                    spec.endpoint,
                    f"record cannot be stored as JSON: {error_reason(err)}",
                    None,
                    None,
                    page.lake_document_id,
                )
            )
            continue
        problem = jsonb_problem(record_json)
        if problem is not None:
            rejected.append(
                QuarantineRow(
                    spec.source, spec.endpoint, problem, record.record, None, page.lake_document_id
                )
            )
            continue
        rows.append(
            RawRow(record.key, record_json, page.response.fetched_at, page.lake_document_id)
        )
    for item in page.parsed.rejected:
        rejected.append(
            QuarantineRow(
                spec.source, spec.endpoint, item.reason, item.record, None, page.lake_document_id
            )
        )
    # Records rejected above, on their way to raw.*, are among the records counted here.
    stats.fetched += len(page.parsed.records) + len(page.parsed.rejected)


def latest_allowed(fetched_at: datetime) -> dict[str | None, datetime]:
    """The newest time a record may carry, by its interval key (None: no interval)."""
    limits: dict[str | None, datetime] = {
        interval: fetched_at + timedelta(seconds=seconds)
        for interval, seconds in INTERVAL_SECONDS.items()
    }
    limits[None] = fetched_at + SNAPSHOT_SLACK
    return limits


def dated_too_late(record: Record, latest: dict[str | None, datetime]) -> str | None:
    """Why ``record`` is dated after the run's clock plus one interval, or None."""
    key = record.key
    at = key[-1]
    if isinstance(at, datetime):
        interval = key[-2] if len(key) > 1 and isinstance(key[-2], str) else None
        limit = latest.get(interval, latest[None])
        if at <= limit:
            return None
    elif isinstance(at, date):
        limit = latest["1d"]
        if at <= limit.date():
            return None
    else:
        return None
    return (
        f"dated {at.isoformat()}, after the run's clock plus one interval "
        f"({limit.isoformat()}): a record from the future never moves a cursor"
    )


def _period(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


@dataclass(frozen=True, slots=True)
class Coverage:
    """What a page holds of one :class:`~ingestion.connectors.base.Expected` of its request.

    Attributes:
        required_first: The first period the page must hold (None: it need hold none).
        missing: The required periods it lacks, oldest first.
        present_first: Its oldest period of that series (None: it has none).
        present_last: Its newest period of that series.
    """

    required_first: datetime | None
    missing: list[datetime]
    present_first: datetime | None
    present_last: datetime | None


def _holds_every_period(times: list[datetime], expected: Expected, fetched_at: datetime) -> bool:
    """Whether ``times`` hold every period ``expected`` requires, as one evenly spaced run.

    The usual page, checked without hashing a period: when the required periods are
    ``first``, ``first + step``, … (no calendar), a run of times from ``first`` on, as long
    as they are and every gap ``step``, holds them all. False says nothing: the caller
    then compares the periods one by one.
    """
    count = expected.required_count(fetched_at)
    if not count:
        return False
    try:
        start = times.index(expected.first)
    except ValueError:
        return False
    run = times[start : start + count]
    return len(run) == count and list(map(sub, run[1:], run)).count(expected.step) == count - 1


def coverages(
    records: Sequence[Record], expects: Sequence[Expected], fetched_at: datetime
) -> list[Coverage]:
    """The :class:`Coverage` of each of ``expects`` by ``records`` (a page fetched then)."""
    keys = list(map(RECORD_KEY, records))
    times = list(map(KEY_TIME, keys))
    heads = set(map(KEY_SERIES, keys))
    # The usual page: one series, keyed by datetimes (each its own period).
    by_datetime = set(map(type, times)) == {datetime}
    periods: set[datetime | None] | None = None
    found: list[Coverage] = []
    for expected in expects:
        wanted = expected.series
        usual = by_datetime and (wanted is None or heads == {wanted})
        if usual and _holds_every_period(times, expected, fetched_at):
            found.append(Coverage(expected.first, [], min(times), max(times)))
            continue
        required = expected.required(fetched_at)
        if not required:
            found.append(Coverage(None, [], None, None))
            continue
        if usual:
            if periods is None:
                periods = set(times)
            have: set[datetime | None] = periods
        elif wanted is None:
            have = {_period(r.key[-1]) for r in records}
        else:  # the series keys are text: compare them as they are first (the hot path)
            have = {
                _period(r.key[-1])
                for r in records
                if r.key[:-1] == wanted or tuple(str(v) for v in r.key[:-1]) == wanted
            }
        present = [t for t in have if t is not None]
        found.append(
            Coverage(
                required[0],
                [t for t in required if t not in have],
                min(present, default=None),
                max(present, default=None),
            )
        )
    return found


def check_page(
    spec: EndpointSpec,
    page: Page,
    states: dict[tuple[str, ...], SeriesState],
    unlisted: dict[tuple[str, ...], datetime] | None = None,
    trailing: dict[tuple[str, ...], list[datetime]] | None = None,
) -> tuple[datetime | None, list[KnownEmpty]]:
    """Check that a page holds every period its request expects.

    A new series (nothing loaded yet) may start late: a coin listed after the start date
    has empty pages, then a first page that starts at its listing. Its empty pages are no
    hole: ``unlisted`` remembers where each such series' first empty page began. When its
    first records come, they must begin after the start of their page (the listing falls
    inside it); records that begin right at the page's start mean the empty page before
    was no listing gap, so that page is the hole.

    A provider that leaves out periods without data (``spec.omits_empty_periods``,
    Coinbase's intervals without trades): what a page lacks before its newest record of a
    series is known-empty. What it lacks after that (its last periods, or all of it) only
    the series' next page can tell, or a later record loaded before the run (a window in
    the past: they are known-empty then): with ``trailing`` (kept by the caller across the
    run's pages, updated here) those periods wait there and become known-empty when a
    later page of the series has a record, or stay missing, for the next run to ask again,
    when none has; without it they are the page's hole.

    Args:
        spec: The endpoint of the page.
        page: The page (its coverage computed already when a parse process prepared it).
        states: What ``raw.*`` held of each series before the run (a series not there is
            new: nothing before its first record is required).
        unlisted: New series with only empty pages so far in this run, and where their
            first empty page began; kept by the caller across the run's pages, updated here.
        trailing: The periods each series' pages lacked after their newest record so far
            in this run (``omits_empty_periods`` only); kept by the caller, updated here.

    Returns:
        The first period the page lacks (a short or empty page) or None; and the holes the
        provider is known to leave (``spec.omits_empty_periods``), to record as known-empty.
    """
    first_hole: datetime | None = None
    known: list[KnownEmpty] = []
    unlisted = {} if unlisted is None else unlisted
    expects = page.request.expect
    found = (
        page.prepared.coverages
        if page.prepared is not None
        else coverages(page.parsed.records, expects, page.response.fetched_at)
    )
    rejected = bool(page.parsed.rejected)
    for expected, cover in zip(expects, found, strict=True):
        if cover.required_first is None:
            continue
        missing, present_first, present_last = (
            cover.missing,
            cover.present_first,
            cover.present_last,
        )
        new_series = expected.series is not None and expected.series not in states
        if new_series and expected.series is not None:
            if present_first is None and not rejected:
                unlisted.setdefault(expected.series, cover.required_first)  # not listed yet
                continue
            empty_from = unlisted.pop(expected.series, None)
            if (
                empty_from is not None
                and present_first is not None
                and present_first <= cover.required_first
            ):
                first_hole = empty_from if first_hole is None else min(first_hole, empty_from)
                continue
        omits = spec.omits_empty_periods if not rejected else None  # rejected: not empty
        series = " ".join(expected.series or ())
        if omits and trailing is not None and present_first is not None:
            # A record after what earlier pages lacked at their end: those were empty.
            earlier = trailing.pop(expected.series or (), [])
            known.extend(KnownEmpty(series, t, omits) for t in earlier)
        if not missing:
            continue
        if new_series and present_first is not None and missing[-1] < present_first:
            continue  # a new series: nothing before its first record (its listing)
        if omits:
            if present_last is not None:  # lacked before the newest record: empty
                inside = [t for t in missing if t < present_last]
                known.extend(KnownEmpty(series, t, omits) for t in inside)
                missing = missing[len(inside) :]
                if not missing:
                    continue
            state = states.get(expected.series or ())
            if state is not None and state.resume_at - expected.step > missing[-1]:
                # raw.* holds a later record already (a window in the past): empty too
                known.extend(KnownEmpty(series, t, omits) for t in missing)
                continue
            if trailing is not None:  # lacked at the page's end: the next page tells
                trailing.setdefault(expected.series or (), []).extend(missing)
                continue
        if first_hole is None or missing[0] < first_hole:
            first_hole = missing[0]
    return first_hole, known


def records_before(parsed: ParseResult, hole: datetime) -> ParseResult:
    """The records of ``parsed`` dated before ``hole`` (rejected records are kept)."""
    kept = [r for r in parsed.records if (_period(r.key[-1]) or hole) < hole]
    return ParseResult(kept, parsed.rejected)
