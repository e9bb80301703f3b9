"""The endpoint pipeline: plan, fetch, keep every response in the lake, load ``raw.*``.

For one endpoint of a run (:class:`EndpointPipeline`), over its own loader connection:

1. derive incremental cursors from what ``raw.*`` holds (or take the explicit window),
2. plan the requests (pages by each API's cap; provider history limits become notes),
3. a producer starts fetch tasks and hands them, in plan order, through a bounded queue
   to the writer; each fetch parses its response and hands the lake document to the
   run's :class:`~ingestion.sinks.lake.LakeWriter`, which writes in batches from its own
   task (error bodies too: 4xx, 5xx, 429),
4. the writer loads batches into ``raw.*`` (one transaction each) while fetching and
   lake writes go on; a batch commits only once the lake has acknowledged every document
   its rows point at, so no raw row ever names a document that was never written.

Pages of a series are loaded in order and a series stops at its first failed page, so the
newest loaded record always ends a gap-free prefix: a rerun (or a run killed half-way)
resumes where the data stops. :func:`run_endpoint` reports one endpoint's failure in its
stats and never raises, so one endpoint failing never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from ingestion.clock import Clock
from ingestion.connections import bookkeeping_deadline, pg_connect, pg_deadline
from ingestion.connectors.base import EndpointSpec, ParseResult, PlanContext, PlannedRequest
from ingestion.errors import BannedError, PostgresHungError, RequestError
from ingestion.http import HttpClient, InvalidBody, Response
from ingestion.resolution import Asset
from ingestion.run.batches import (
    analyze,
    count_lake_documents,
    flush,
    reconcile,
    unlanded,
)
from ingestion.run.bookkeeping import loader_name, record_run
from ingestion.run.offload import PageParser
from ingestion.run.pages import Page, check_page, collect, read_page, records_before
from ingestion.run.results import EndpointStats, ProgressCallback, ProgressEvent, join_errors
from ingestion.run.stores import StoreTargets
from ingestion.settings import Settings
from ingestion.sinks.lake import Lake, LakeWriter, StoredResponse, response_document
from ingestion.sinks.raw.cursors import SeriesState, record_known_empty, series_states
from ingestion.sinks.raw.loader import RawLoader
from ingestion.sinks.raw.rows import QuarantineRow, RawRow
from ingestion.sinks.raw.run_log import lock_endpoint

logger = logging.getLogger(__name__)

BATCH_ROWS = 50_000  # records per raw transaction, at most
IDLE_FLUSH_ROWS = 2_000  # write a smaller batch while waiting for the next page
QUEUE_DEPTH = 16  # fetched-or-fetching pages waiting for the writer, per endpoint
FULL_PAGE = 1_000  # records: an endpoint of smaller pages queues several a slot


def queue_depth(spec: EndpointSpec) -> int:
    """Pages ``spec`` may have fetched or fetching ahead of its writer.

    :data:`QUEUE_DEPTH` pages of up to :data:`FULL_PAGE` records; an endpoint of smaller
    pages (Coinbase's 300 candles) queues as many more as fit, so about as many records
    are ahead: its writer then loads batches as large as the others' instead of waiting on
    a queue emptied by every batch's commit.
    """
    cap = spec.page_cap or FULL_PAGE
    return QUEUE_DEPTH * max(1, FULL_PAGE // cap)


@dataclass(slots=True)
class RunContext:
    """What every endpoint of one run shares: settings, stores, client, window and clock."""

    settings: Settings
    run_id: str
    targets: StoreTargets
    http: HttpClient
    lake: Lake
    lake_writer: LakeWriter
    assets: tuple[Asset, ...]  # resolved from the listings once they are loaded
    now: datetime
    start: datetime | None
    end: datetime | None
    progress: ProgressCallback | None
    clock: Clock
    # notes of the assets' resolution, by source (CoinGecko: which coin a ticker is)
    asset_notes: dict[str, list[str]] = field(default_factory=dict)
    parser: PageParser | None = None  # the parse process of the run's candle pages

    def report(self, spec: EndpointSpec, done: int, total: int, records: int) -> None:
        """Tell the progress callback, if any, how far ``spec`` has got."""
        if self.progress is not None:
            self.progress(ProgressEvent(spec.source, spec.endpoint, done, total, records))


def requested_names(
    assets: Sequence[Asset], source: str, requests: Sequence[PlannedRequest]
) -> dict[str, str]:
    """Asset -> the name ``source`` was asked for it by, for the assets the plan requests."""
    asked = " ".join(f"{r.path} {' '.join(r.params.values())} {r.group}" for r in requests)
    names = ((a.asset_id, a.name_on(source)) for a in assets)
    return {asset_id: name for asset_id, name in names if name and name in asked}


async def run_endpoint(run: RunContext, spec: EndpointSpec) -> EndpointStats:
    """Ingest one endpoint and record its run; never raises.

    Args:
        run: The run the endpoint is part of.
        spec: The endpoint.

    Returns:
        What the run did for the endpoint; a failure is its status and error, and its
        ``raw.ingestion_runs`` row is written whatever happened.
    """
    stats = EndpointStats(spec.source, spec.endpoint, started_at=run.clock())
    clock = time.monotonic()
    counter = run.http.counter(spec.source, spec.endpoint)
    requests_before, retries_before = counter.requests, counter.retries
    conn: psycopg.AsyncConnection[Any] | None = None
    hung = False
    try:
        conn = await pg_connect(
            run.settings, run.targets.loader_dsn, application_name=loader_name(spec)
        )
        # One run of an endpoint at a time: a second one waits here, then plans from what
        # the first loaded (the lock goes with the connection).
        waited = await lock_endpoint(conn, spec.name)
        if waited is not None:
            stats.notes.append(f"waited {waited:.1f}s for another run of {spec.name}")
        await EndpointPipeline(run, spec, conn, stats).ingest()
    except Exception as err:  # one endpoint's failure is reported, never propagated
        hung = isinstance(err, PostgresHungError)
        logger.exception("%s failed", spec.name)
        stats.status = "failed"
        stats.error = join_errors(stats.error, f"{type(err).__name__}: {err}")
    finally:
        stats.requests = counter.requests - requests_before
        stats.retries = counter.retries - retries_before
        stats.elapsed = time.monotonic() - clock
        stats.finished_at = run.clock()
        stats.check_sum()
        await record_run(
            run.run_id, run.targets, stats, conn, bookkeeping_deadline(run.settings), hung=hung
        )
        if conn is not None:
            await conn.close()
    return stats


class EndpointPipeline:
    """One endpoint's ingestion within a run, over its own (locked) loader connection.

    :meth:`ingest` plans the requests, fetches them concurrently (at most
    :func:`queue_depth` ahead of the writer) and loads their records in plan order, in
    batches; ``stats`` is filled in as it goes.
    """

    def __init__(
        self,
        context: RunContext,
        spec: EndpointSpec,
        conn: psycopg.AsyncConnection[Any],
        stats: EndpointStats,
    ) -> None:
        """Prepare the pipeline of ``spec`` in the run ``context``.

        Args:
            context: The run the endpoint is part of.
            spec: The endpoint.
            conn: Its loader connection, holding the endpoint's lock.
            stats: Where the endpoint's numbers go.
        """
        self.context = context
        self.spec = spec
        self.conn = conn
        self.stats = stats
        self.loader = RawLoader(conn, spec.raw_table, context.run_id)
        self.states: dict[tuple[str, ...], SeriesState] = {}
        self.requests: list[PlannedRequest] = []
        self.pending_rows: list[RawRow] = []
        self.pending_rejected: list[QuarantineRow] = []
        # (computed lake id, its write) of the pages in the batch: the commit waits for them
        self.pending_acks: list[tuple[str, asyncio.Future[StoredResponse]]] = []
        self.lake_acks: list[asyncio.Future[StoredResponse]] = []  # every lake write
        self.queue: asyncio.Queue[tuple[PlannedRequest, asyncio.Task[Page]] | None] = asyncio.Queue(
            maxsize=queue_depth(spec)
        )
        self.failed_groups: dict[str, str] = {}
        # New series with only empty pages so far: where their first empty page began.
        self.unlisted: dict[tuple[str, ...], datetime] = {}
        # Periods a series' pages lacked after their newest record (a provider that omits
        # empty periods): known-empty once a later page has a record (check_page).
        self.trailing: dict[tuple[str, ...], list[datetime]] = {}
        self.unlisted_pages: dict[str, int] = {}  # their empty pages, per group
        # Periods recorded as known-empty, per group: one note each at the end (a year of
        # minutes of a quiet pair has them on thousands of pages)
        self.known_empty: dict[str, int] = {}
        self.done = 0
        self.failed = 0
        self.parser: PageParser | None = None  # set once the plan says it pays

    async def ingest(self) -> None:
        """Plan, fetch and load the endpoint; then set its status and check its numbers."""
        context, spec, stats = self.context, self.spec, self.stats
        await self._plan()
        context.report(spec, 0, len(self.requests), 0)
        producer = asyncio.create_task(self._produce())
        try:
            for _ in range(len(self.requests) + 1):
                item = await self.queue.get()
                if item is None:
                    break
                await self._write(*item)
            await self._flush()
        finally:
            producer.cancel()
            while not self.queue.empty():
                left = self.queue.get_nowait()
                if left is not None:
                    left[1].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
            # left by a failure
            unlanded(stats, len(self.pending_rows) + len(self.pending_rejected))
            await count_lake_documents(
                self.lake_acks, stats, context.settings.lake_ack_timeout_seconds
            )
        self._conclude()
        await analyze(self.conn, spec.raw_table, stats)
        await reconcile(self.conn, self.loader, stats)
        context.report(spec, self.done + self.failed, len(self.requests), stats.fetched)

    async def _plan(self) -> None:
        """Cursors from what ``raw.*`` holds (unless the run has a window), then requests."""
        context, spec = self.context, self.spec
        if spec.is_time_windowed:
            self.states = await series_states(self.conn, spec.raw_table, context.now)
        states = self.states
        cursors = {k: v.resume_at for k, v in states.items()} if context.start is None else {}
        reopen = {k: v.reopen for k, v in states.items() if v.reopen is not None}
        plan_ctx = PlanContext(
            context.settings,
            context.assets,
            context.now,
            context.start,
            context.end,
            cursors,
            reopen=reopen,
        )
        self.requests = spec.plan(plan_ctx)
        parser = context.parser
        self.parser = parser if parser and parser.wanted(spec, len(self.requests)) else None
        self.stats.notes.extend(context.asset_notes.get(spec.source, ()))
        self.stats.notes.extend(plan_ctx.notes)
        self.stats.symbols = requested_names(context.assets, spec.source, self.requests)

    async def _on_error_body(self, response: Response) -> None:
        """Keep a JSON error body (4xx, 5xx, 429, an error in a 200) in the lake."""
        document = response_document(response, run_id=self.context.run_id, record_count=0)
        self.lake_acks.append(await self.context.lake_writer.put(document))

    async def _on_invalid_body(self, invalid: InvalidBody) -> None:
        """Keep a body that is not JSON in ``lake.quarantine``, and quarantine the page."""
        spec, stats = self.spec, self.stats
        document_id = await self.context.lake.store_invalid(invalid, run_id=self.context.run_id)
        self.pending_rejected.append(
            QuarantineRow(
                spec.source, spec.endpoint, invalid.reason, None, invalid.text, document_id
            )
        )
        stats.fetched += 1
        stats.notes.append(
            f"non-JSON body of GET {invalid.path} kept in lake.quarantine {document_id}"
        )

    async def _fetch(self, request: PlannedRequest) -> Page:
        """Fetch and parse one page; its lake document goes to the writer however it ends."""
        context, spec = self.context, self.spec
        response = await context.http.get_json(
            spec.source,
            spec.endpoint,
            request.path,
            request.params,
            on_invalid_body=self._on_invalid_body,
            on_error_body=self._on_error_body,
        )
        # The lake gets the body whatever parsing makes of it: the document is made
        # first and handed to the writer however parsing ends.
        document = response_document(response, run_id=context.run_id, record_count=0)
        page = Page(request, response, ParseResult(), str(document["_id"]), "not parsed")
        try:
            if self.parser is not None:
                page = await self.parser.read(spec, request, response, page.lake_document_id)
            else:
                page = read_page(spec, request, response, page.lake_document_id)
            document.update(
                record_count=page.record_count, records_from=page.first, records_to=page.last
            )
        finally:
            page.lake_ack = await context.lake_writer.put(document)
            self.lake_acks.append(page.lake_ack)
        return page

    async def _produce(self) -> None:
        """Start a fetch task per request and queue it, in plan order, for the writer."""
        try:
            for request in self.requests:
                task = asyncio.create_task(self._fetch(request))
                try:
                    await self.queue.put((request, task))
                except BaseException:  # cancelled while the queue was full: not handed over
                    task.cancel()
                    raise
        finally:
            await self.queue.put(None)

    async def _flush(self) -> None:
        """Load the pending rows as one batch, once the lake acknowledged their pages."""
        acks = list(self.pending_acks)
        self.pending_acks.clear()
        await flush(
            self.spec,
            self.loader,
            self.pending_rows,
            self.pending_rejected,
            self.stats,
            acks,
            ack_timeout=self.context.settings.lake_ack_timeout_seconds,
            deadline=pg_deadline(self.context.settings),
        )

    async def _write(self, request: PlannedRequest, task: asyncio.Task[Page]) -> None:
        """Take one fetched page, in plan order: check it, collect its rows, load a batch.

        A page of a series that failed already is cancelled, not loaded; a failed request
        or a short page fails its series from there. Progress is reported after each page
        that was loaded (in part, for a short page).
        """
        spec, stats = self.spec, self.stats
        if request.group and request.group in self.failed_groups:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            self.failed += 1
            return
        if not task.done() and len(self.pending_rows) >= IDLE_FLUSH_ROWS:
            # The next page is not here yet: use the wait to write what we have.
            await self._flush()
        try:
            page = await task
        except RequestError as err:
            self.failed += 1
            if not (isinstance(err, BannedError) and err.cause in (stats.error or "")):
                stats.error = join_errors(stats.error, str(err))  # a ban: named once
            if request.group:
                self.failed_groups[request.group] = str(err)
            return
        hole, known_empty = check_page(spec, page, self.states, self.unlisted, self.trailing)
        if known_empty:
            await record_known_empty(self.conn, spec.raw_table, known_empty, self.context.run_id)
            group_key = request.group or request.path
            self.known_empty[group_key] = self.known_empty.get(group_key, 0) + len(known_empty)
        group = request.group or request.path
        if hole is not None:
            # A short or empty page: load what comes before the hole, fail the series
            # there, so the cursor never passes a hole; the next run asks again. (Empty
            # pages of a new series taken for "not listed yet" were the hole after all.)
            empty = self.unlisted_pages.pop(group, 0)
            self.done -= empty
            self.failed += 1 + empty
            message = (
                f"{spec.name} {request.group}: short page, no record for "
                f"{hole:%Y-%m-%d %H:%M} (GET {request.path}); the series stops "
                "before it"
            )
            stats.error = join_errors(stats.error, message)
            stats.notes.append(message)
            self.failed_groups[group] = message
            if page.prepared is not None:  # the records themselves are needed here
                ack, page = (
                    page.lake_ack,
                    read_page(spec, request, page.response, page.lake_document_id),
                )
                page.lake_ack = ack
            page.parsed = records_before(page.parsed, hole)
        else:
            self.done += 1
            if not page.record_count and any(e.series in self.unlisted for e in request.expect):
                self.unlisted_pages[group] = self.unlisted_pages.get(group, 0) + 1
        collect(spec, page, self.pending_rows, self.pending_rejected, stats)
        if page.lake_ack is not None:
            self.pending_acks.append((page.lake_document_id, page.lake_ack))
        if len(self.pending_rows) >= BATCH_ROWS:
            await self._flush()
        self.context.report(spec, self.done + self.failed, len(self.requests), stats.fetched)

    def _conclude(self) -> None:
        """The endpoint's status from its failed pages, a ban, or all-quarantined records."""
        spec, stats, http = self.spec, self.stats, self.context.http
        for group, count in self.known_empty.items():
            stats.notes.append(
                f"{group}: {count:,} period(s) the provider has no record for recorded as "
                f"known-empty ({spec.omits_empty_periods})"
            )
        for group in self.failed_groups:
            stats.notes.append(
                f"{group}: stopped at the first failed page; the next run resumes from there"
            )
        for series, periods in sorted(self.trailing.items()):
            stats.notes.append(
                f"{' '.join(series)}: no record from {periods[0]:%Y-%m-%d %H:%M} to the end of "
                f"its last page ({len(periods)} period(s), none yet or none at all): "
                "the next run asks again"
            )
        for series, since in sorted(self.unlisted.items()):
            stats.notes.append(
                f"{' '.join(series)}: no record since {since:%Y-%m-%d %H:%M}: not listed yet "
                "(nothing loaded; the next run asks again)"
            )
        if self.failed and stats.status != "failed":  # failed already: the accounting said so
            stats.status = "failed" if self.done == 0 else "partial"
        if spec.source in http.banned:  # an IP ban is worth an alert, whatever was loaded
            stats.status = "failed"
            if http.banned[spec.source] not in (stats.error or ""):
                stats.error = join_errors(stats.error, f"{spec.name}: {http.banned[spec.source]}")
            stats.notes.append(
                f"{spec.source} banned this IP (HTTP 418): every {spec.source} "
                "request of this run stopped; wait for the ban to end before "
                "the next run"
            )
        elif (
            stats.quarantined
            and stats.quarantined == stats.fetched
            and stats.fetched
            and stats.status == "success"
        ):
            stats.status = "partial"
