"""Run ingestion: plan, fetch, keep every response in the lake, load raw, account for it all.

:func:`run_ingestion` is the entry point of the CLI and of the Dagster assets (this module
never imports Dagster). For each selected endpoint, concurrently:

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
resumes where the data stops. One endpoint (or source) failing never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from pymongo.errors import PyMongoError

from ingestion.clock import Clock, clock_for, fixed_clock
from ingestion.connections import (
    StoreUnavailableError,
    bookkeeping_deadline,
    mongo_client,
    mongo_unavailable,
    pg_connect,
    pg_deadline,
    pg_unavailable,
    short_error,
)
from ingestion.connectors.base import (
    INTERVAL_SECONDS,
    EndpointSpec,
    ParsedPage,
    ParseResult,
    PlanContext,
    PlannedRequest,
    Record,
    error_reason,
    parse_page,
)
from ingestion.connectors.registry import get_endpoint, select
from ingestion.http import (
    BannedError,
    HttpClient,
    IngestionError,
    InvalidBody,
    RequestError,
    Response,
    describe_request,
    is_error_body,
)
from ingestion.raw_tables import RawTable
from ingestion.settings import Settings
from ingestion.sinks import raw
from ingestion.sinks.lake import Lake, LakeWriter, StoredResponse, response_document
from ingestion.symbols import Asset, get_asset

logger = logging.getLogger(__name__)

BATCH_ROWS = 50_000  # records per raw transaction, at most
IDLE_FLUSH_ROWS = 2_000  # write a smaller batch while waiting for the next page
QUEUE_DEPTH = 16  # fetched-or-fetching pages waiting for the writer, per endpoint


# --------------------------------------------------------------------------- results
@dataclass(slots=True)
class EndpointStats:
    """What one run did for one endpoint (a row of ``raw.ingestion_runs``)."""

    source: str
    endpoint: str
    status: str = "success"  # success | partial | failed
    requests: int = 0
    retries: int = 0
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    lake_documents: int = 0
    elapsed: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    @property
    def name(self) -> str:
        return f"{self.source}/{self.endpoint}"

    def add_counts(self, counts: raw.LoadCounts) -> None:
        self.inserted += counts.inserted
        self.updated += counts.updated
        self.unchanged += counts.unchanged
        self.quarantined += counts.quarantined
        for problem in counts.problems:
            self.accounting_failed(problem)

    def accounting_failed(self, problem: str) -> None:
        """The numbers do not add up: the run is failed, and says why."""
        self.status = "failed"
        self.error = _join(self.error, f"{self.name}: accounting does not add up: {problem}")

    def check_sum(self) -> None:
        """fetched = inserted + updated + unchanged + quarantined, or the run is failed."""
        landed = self.inserted + self.updated + self.unchanged + self.quarantined
        if self.fetched != landed:
            self.accounting_failed(
                f"fetched {self.fetched} records, but inserted {self.inserted} + updated "
                f"{self.updated} + unchanged {self.unchanged} + quarantined "
                f"{self.quarantined} = {landed}"
            )


@dataclass(slots=True)
class RunSummary:
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    endpoints: list[EndpointStats] = field(default_factory=list)

    @property
    def failed(self) -> list[EndpointStats]:
        return [e for e in self.endpoints if e.status != "success"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def total(self, name: str) -> int:
        return sum(int(getattr(e, name)) for e in self.endpoints)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """Reported after planning and after each page is written (for progress bars)."""

    source: str
    endpoint: str
    requests_done: int
    requests_total: int
    records: int


ProgressCallback = Callable[[ProgressEvent], None]


# --------------------------------------------------------------------------- stores
@dataclass(frozen=True, slots=True)
class StoreTargets:
    loader_dsn: str
    mongo_uri: str
    mongo_db: str


def resolve_stores(settings: Settings) -> StoreTargets:
    """Where to write: the ``loader`` role's DSN and the lake's URI (nothing is started)."""
    from ingestion.services import credentials, lake_uri

    # the loader's own password and the lake writer's URI: never the admin DSN
    return StoreTargets(
        credentials.role_dsn(settings, "loader"), lake_uri(settings), settings.mongo_db
    )


@contextlib.asynccontextmanager
async def open_lake(settings: Settings) -> AsyncIterator[Lake]:
    """The lake of ``settings`` (for reading it, e.g. ``criptopipe lake show``)."""
    from ingestion.services import lake_reader_uri

    client = mongo_client(settings, lake_reader_uri(settings))
    try:
        yield Lake.connect(client, settings.mongo_db)
    finally:
        await client.close()


def ensure_raw_schema(settings: Settings) -> None:
    """Create the raw tables if missing (what dbt's sources read), as the loader role."""

    async def ensure() -> None:
        async with await psycopg.AsyncConnection.connect(
            resolve_stores(settings).loader_dsn, autocommit=True
        ) as conn:
            await raw.ensure_schema(conn)

    asyncio.run(ensure())


def new_run_id(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


def _as_utc(value: date | datetime | None, *, end: bool = False) -> datetime | None:
    """Dates are whole UTC days: a start date is its midnight, an end date includes itself."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    midnight = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return midnight + timedelta(days=1) if end else midnight


def _assets(settings: Settings, assets: Sequence[str] | None) -> tuple[Asset, ...]:
    return tuple(get_asset(a) for a in (assets or settings.assets))


# --------------------------------------------------------------------------- runner
@dataclass(slots=True)
class _Run:
    settings: Settings
    run_id: str
    targets: StoreTargets
    http: HttpClient
    lake: Lake
    lake_writer: LakeWriter
    assets: tuple[Asset, ...]
    now: datetime
    start: datetime | None
    end: datetime | None
    progress: ProgressCallback | None
    clock: Clock


@dataclass(slots=True)
class _Page:
    request: PlannedRequest
    response: Response
    parsed: ParseResult
    lake_document_id: str
    body_error: str | None = None
    lake_ack: asyncio.Future[StoredResponse] | None = None  # None: already in the lake


async def run_ingestion(
    settings: Settings,
    *,
    sources: Sequence[str] | None = None,
    endpoints: Sequence[str] | None = None,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    assets: Sequence[str] | None = None,
    run_id: str | None = None,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
    http: HttpClient | None = None,
) -> RunSummary:
    """Ingest the selected endpoints (default: all) and return what happened.

    ``start``/``end`` backfill a window of the time-windowed endpoints (dates are whole
    days, ``end`` included); without them each series continues from its newest loaded
    record. ``now`` freezes the run's clock (default: the settings' clock, see
    ``ingestion.clock``): windows end there, responses are dated by it, and records dated
    after it plus one interval are quarantined. ``http`` lets a caller supply a configured
    client (rate limits); otherwise one is made, on the run's clock.
    """
    specs = select(sources, endpoints)
    clock = fixed_clock(now) if now is not None else clock_for(settings)
    run_now = clock()
    summary = RunSummary(run_id or new_run_id(run_now), run_now)
    targets = resolve_stores(settings)
    start_at, end_at = _as_utc(start), _as_utc(end, end=True)
    if start_at is not None and end_at is None:
        end_at = run_now
    async with contextlib.AsyncExitStack() as stack:
        mongo = mongo_client(settings, targets.mongo_uri)
        stack.push_async_callback(mongo.close)
        lake = Lake.connect(mongo, targets.mongo_db)
        await _prepare_stores(settings, targets, lake, summary, specs)
        client = (
            http
            if http is not None
            else await stack.enter_async_context(HttpClient(settings, clock=clock))
        )
        writer = await stack.enter_async_context(LakeWriter(lake))
        run = _Run(
            settings,
            summary.run_id,
            targets,
            client,
            lake,
            writer,
            _assets(settings, assets),
            run_now,
            start_at,
            end_at,
            progress,
            clock,
        )
        summary.endpoints = list(await asyncio.gather(*(_run_endpoint(run, s) for s in specs)))
    summary.finished_at = clock()
    logger.info(
        "run %s finished: %d endpoints, %d failed",
        summary.run_id,
        len(summary.endpoints),
        len(summary.failed),
    )
    return summary


async def _prepare_stores(
    settings: Settings,
    targets: StoreTargets,
    lake: Lake,
    summary: RunSummary,
    specs: Sequence[EndpointSpec],
) -> None:
    """Reach both servers (schema, indexes) before any request; one that cannot be reached
    raises :class:`StoreUnavailableError` naming it, after recording a failed run of every
    selected endpoint when PostgreSQL is there to hold them."""
    try:
        async with await pg_connect(settings, targets.loader_dsn) as conn:
            await raw.ensure_schema(conn)
    except psycopg.OperationalError as err:
        raise pg_unavailable(targets.loader_dsn, err) from err
    try:
        await lake.ensure_indexes()
    except PyMongoError as err:
        unavailable = mongo_unavailable(targets.mongo_uri, err)
        now = summary.started_at
        for spec in specs:
            stats = EndpointStats(
                spec.source,
                spec.endpoint,
                status="failed",
                error=str(unavailable),
                started_at=now,
                finished_at=now,
            )
            summary.endpoints.append(stats)
            await _record_run(summary.run_id, targets, stats, None)
        raise StoreUnavailableError(
            f"{unavailable}; run {summary.run_id} recorded as failed in raw.ingestion_runs"
        ) from err


async def _run_endpoint(run: _Run, spec: EndpointSpec) -> EndpointStats:
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
        waited = await raw.lock_endpoint(conn, spec.name)
        if waited is not None:
            stats.notes.append(f"waited {waited:.1f}s for another run of {spec.name}")
        await _ingest_endpoint(run, spec, conn, stats)
    except Exception as err:  # one endpoint's failure is reported, never propagated
        hung = isinstance(err, PostgresHungError)
        logger.exception("%s failed", spec.name)
        stats.status = "failed"
        stats.error = _join(stats.error, f"{type(err).__name__}: {err}")
    finally:
        stats.requests = counter.requests - requests_before
        stats.retries = counter.retries - retries_before
        stats.elapsed = time.monotonic() - clock
        stats.finished_at = run.clock()
        stats.check_sum()
        await _record_run(
            run.run_id, run.targets, stats, conn, bookkeeping_deadline(run.settings), hung=hung
        )
        if conn is not None:
            await conn.close()
    return stats


async def _record_run(
    run_id: str,
    targets: StoreTargets,
    stats: EndpointStats,
    conn: psycopg.AsyncConnection[Any] | None,
    deadline: float = 25.0,
    *,
    hung: bool = False,
) -> None:
    """Write the run's ``raw.ingestion_runs`` row; every endpoint of every run gets one.

    ``conn`` (the endpoint's loader connection) is tried first. PostgreSQL may have gone
    away under it (a restart, a terminated backend) without psycopg knowing yet: then the
    row is written over a fresh connection, retried while the server comes back (the write
    is an upsert, so a retry after an unacknowledged commit is harmless). Only when that
    fails too is the row given up, logged as an error with every number it held.
    """
    row = {
        "run_id": run_id,
        "source": stats.source,
        "endpoint": stats.endpoint,
        "started_at": stats.started_at,
        "finished_at": stats.finished_at,
        "status": stats.status,
        "requests": stats.requests,
        "retries": stats.retries,
        "fetched": stats.fetched,
        "inserted": stats.inserted,
        "updated": stats.updated,
        "unchanged": stats.unchanged,
        "quarantined": stats.quarantined,
        "lake_documents": stats.lake_documents,
        "error": stats.error,
        "notes": "\n".join(stats.notes) or None,
    }
    failure: BaseException | None = None
    if conn is not None and not conn.closed and not hung:
        try:
            async with asyncio.timeout(deadline):
                await _record_checked(conn, stats, row)
            return
        except TimeoutError as err:  # a hung server: one fresh try, not a minute of them
            hung = True
            failure = psycopg.OperationalError(f"PostgreSQL did not answer within {deadline:g}s")
            logger.warning(
                "%s: PostgreSQL did not answer within %gs while recording run %s",
                stats.name,
                deadline,
                run_id,
                exc_info=err,
            )
        except psycopg.OperationalError as err:  # the connection is gone: use a new one
            failure = err
            logger.warning(
                "%s: lost the loader connection before recording run %s (%s); "
                "recording it over a fresh connection",
                stats.name,
                run_id,
                str(err).strip() or type(err).__name__,
            )
        except Exception as err:
            failure = err  # not a lost connection: a new one would fail the same way
    if failure is None or isinstance(failure, psycopg.OperationalError):
        failure = await _record_run_fresh(
            targets, stats, row, deadline, delays=() if hung else RECORD_RUN_RETRY_DELAYS
        )
    if failure is not None:
        logger.error(
            "could not record run %s of %s in raw.ingestion_runs: %s: %s; "
            "the row that is missing: %s",
            run_id,
            stats.name,
            type(failure).__name__,
            str(failure).strip(),
            json.dumps(row, default=str),
            exc_info=failure,
        )


async def _record_checked(
    conn: psycopg.AsyncConnection[Any], stats: EndpointStats, row: dict[str, Any]
) -> None:
    """Write the run's row; one the accounting CHECK refuses is written again as failed,
    with the refusal as its error, so a run whose numbers do not add up is never lost."""
    try:
        await raw.record_run(conn, row)
    except psycopg.errors.CheckViolation as err:
        stats.accounting_failed(f"raw.ingestion_runs refused the row: {str(err).strip()}")
        row.update(status=stats.status, error=stats.error)
        await raw.record_run(conn, row)


RECORD_RUN_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # ~60 s: a restart


async def _record_run_fresh(
    targets: StoreTargets,
    stats: EndpointStats,
    row: dict[str, Any],
    deadline: float = 25.0,
    delays: Sequence[float] = RECORD_RUN_RETRY_DELAYS,
) -> BaseException | None:
    """Write ``row`` over new connections while PostgreSQL refuses them; the last error."""
    failure: BaseException | None = None
    for attempt, delay in enumerate((0.0, *delays)):
        if attempt:
            logger.warning(
                "%s: recording run %s failed (%s); retry %d/%d in %.1fs",
                stats.name,
                row["run_id"],
                str(failure).strip(),
                attempt,
                len(delays),
                delay,
            )
            await asyncio.sleep(delay)
        try:
            async with asyncio.timeout(deadline):
                async with await psycopg.AsyncConnection.connect(
                    targets.loader_dsn,
                    autocommit=True,
                    connect_timeout=max(1, round(deadline / 3)),
                    application_name=bookkeeping_name(stats),
                ) as fresh:
                    await _record_checked(fresh, stats, row)
            return None
        except TimeoutError:  # hung
            failure = psycopg.OperationalError(f"PostgreSQL did not answer within {deadline:g}s")
        except psycopg.OperationalError as err:  # refused, or lost again: try again
            failure = err
        except Exception as err:  # the server refused the row itself: retrying won't help
            return err
    return failure


def bookkeeping_name(stats: EndpointStats) -> str:
    """The ``application_name`` of a fresh connection that records an endpoint's run."""
    return f"criptopipe {stats.name} bookkeeping"


def loader_name(spec: EndpointSpec) -> str:
    """The ``application_name`` of an endpoint's loader connection (``pg_stat_activity``)."""
    return f"criptopipe {spec.name}"


def _join(first: str | None, second: str) -> str:
    return second if not first else f"{first}\n{second}"


async def _ingest_endpoint(
    run: _Run, spec: EndpointSpec, conn: psycopg.AsyncConnection[Any], stats: EndpointStats
) -> None:
    table = spec.raw_table
    states: dict[tuple[str, ...], raw.SeriesState] = {}
    if spec.is_candles:
        states = await raw.series_states(conn, table, run.now)
    cursors = {k: v.resume_at for k, v in states.items()} if run.start is None else {}
    reopen = {k: v.reopen for k, v in states.items() if v.reopen is not None}
    plan_ctx = PlanContext(
        run.settings, run.assets, run.now, run.start, run.end, cursors, reopen=reopen
    )
    requests = spec.plan(plan_ctx)
    stats.notes.extend(plan_ctx.notes)
    _report(run, spec, 0, len(requests), 0)
    loader = raw.RawLoader(conn, table, run.run_id)
    pending_rows: list[raw.RawRow] = []
    pending_rejected: list[raw.QuarantineRow] = []
    # (computed lake id, its write) of the pages in the batch: the commit waits for them
    pending_acks: list[tuple[str, asyncio.Future[StoredResponse]]] = []
    lake_acks: list[asyncio.Future[StoredResponse]] = []  # every lake write of the endpoint

    async def on_error_body(response: Response) -> None:
        document = response_document(response, run_id=run.run_id, record_count=0)
        lake_acks.append(await run.lake_writer.put(document))

    async def on_invalid_body(invalid: InvalidBody) -> None:
        document_id = await run.lake.store_invalid(invalid, run_id=run.run_id)
        pending_rejected.append(
            raw.QuarantineRow(
                spec.source, spec.endpoint, invalid.reason, None, invalid.text, document_id
            )
        )
        stats.fetched += 1
        stats.notes.append(
            f"non-JSON body of GET {invalid.path} kept in lake.quarantine {document_id}"
        )

    async def fetch(request: PlannedRequest) -> _Page:
        response = await run.http.get_json(
            spec.source,
            spec.endpoint,
            request.path,
            request.params,
            on_invalid_body=on_invalid_body,
            on_error_body=on_error_body,
        )
        # The lake gets the body whatever parsing makes of it: the document is made
        # first and handed to the writer however parsing ends.
        document = response_document(response, run_id=run.run_id, record_count=0)
        page = ParsedPage(ParseResult(), "not parsed")
        try:
            page = parse_page(
                spec, request.path, request.params, response.data, response.fetched_at
            )
            document.update(
                record_count=len(page.result.records), records_from=page.first, records_to=page.last
            )
        finally:
            ack = await run.lake_writer.put(document)
            lake_acks.append(ack)
        return _Page(request, response, page.result, str(document["_id"]), page.error, ack)

    queue: asyncio.Queue[tuple[PlannedRequest, asyncio.Task[_Page]] | None] = asyncio.Queue(
        maxsize=QUEUE_DEPTH
    )

    async def produce() -> None:
        try:
            for request in requests:
                task = asyncio.create_task(fetch(request))
                try:
                    await queue.put((request, task))
                except BaseException:  # cancelled while the queue was full: not handed over
                    task.cancel()
                    raise
        finally:
            await queue.put(None)

    async def flush() -> None:
        acks = list(pending_acks)
        pending_acks.clear()
        await _flush(
            spec,
            loader,
            pending_rows,
            pending_rejected,
            stats,
            acks,
            ack_timeout=run.settings.lake_ack_timeout_seconds,
            deadline=pg_deadline(run.settings),
        )

    producer = asyncio.create_task(produce())
    failed_groups: dict[str, str] = {}
    done = failed = 0
    try:
        for _ in range(len(requests) + 1):
            item = await queue.get()
            if item is None:
                break
            request, task = item
            if request.group and request.group in failed_groups:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                failed += 1
                continue
            if not task.done() and len(pending_rows) >= IDLE_FLUSH_ROWS:
                # The next page is not here yet: use the wait to write what we have.
                await flush()
            try:
                page = await task
            except RequestError as err:
                failed += 1
                if not (isinstance(err, BannedError) and err.cause in (stats.error or "")):
                    stats.error = _join(stats.error, str(err))  # a ban: named once
                if request.group:
                    failed_groups[request.group] = str(err)
                continue
            hole, known_empty = _check_page(spec, page, states)
            if known_empty:
                await raw.record_known_empty(conn, table, known_empty, run.run_id)
                stats.notes.append(
                    f"{request.group}: {len(known_empty)} period(s) the provider has no record "
                    f"for recorded as known-empty ({spec.omits_empty_periods})"
                )
            if hole is not None:
                # A short or empty page: load what comes before the hole, fail the series
                # there, so the cursor never passes a hole; the next run asks again.
                failed += 1
                message = (
                    f"{spec.name} {request.group}: short page, no record for "
                    f"{hole:%Y-%m-%d %H:%M} (GET {request.path}); the series stops "
                    "before it"
                )
                stats.error = _join(stats.error, message)
                stats.notes.append(message)
                failed_groups[request.group or request.path] = message
                page.parsed = _before(page.parsed, hole)
            else:
                done += 1
            _collect(spec, page, pending_rows, pending_rejected, stats)
            if page.lake_ack is not None:
                pending_acks.append((page.lake_document_id, page.lake_ack))
            if len(pending_rows) >= BATCH_ROWS:
                await flush()
            _report(run, spec, done + failed, len(requests), stats.fetched)
        await flush()
    finally:
        producer.cancel()
        while not queue.empty():
            item = queue.get_nowait()
            if item is not None:
                item[1].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
        _unlanded(stats, len(pending_rows) + len(pending_rejected))  # left by a failure
        await _count_lake_documents(lake_acks, stats, run.settings.lake_ack_timeout_seconds)
    for group in failed_groups:
        stats.notes.append(
            f"{group}: stopped at the first failed page; the next run resumes from there"
        )
    if failed and stats.status != "failed":  # failed already: the accounting said so
        stats.status = "failed" if done == 0 else "partial"
    if spec.source in run.http.banned:  # an IP ban is worth an alert, whatever was loaded
        stats.status = "failed"
        if run.http.banned[spec.source] not in (stats.error or ""):
            stats.error = _join(stats.error, f"{spec.name}: {run.http.banned[spec.source]}")
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
    await _analyze(conn, spec.raw_table, stats)
    await _reconcile(conn, loader, stats)
    _report(run, spec, done + failed, len(requests), stats.fetched)


async def _reconcile(
    conn: psycopg.AsyncConnection[Any], loader: raw.RawLoader, stats: EndpointStats
) -> None:
    """Check the run's numbers against the rows the database holds under its run_id.

    Each row this run inserted or updated names the run (unchanged rows keep the run that
    last wrote them), and each record it quarantined is a row of ``raw.quarantine``. So
    inserted <= rows of the run <= inserted + updated (a key written twice in one run is
    one row), and the quarantine count is exact. A mismatch fails the run."""
    table, run_id = loader.table, loader.run_id
    try:
        rows, quarantined = await raw.rows_of_run(conn, table, run_id, loader.earliest_fetch)
    except psycopg.Error as err:
        stats.notes.append(f"could not reconcile with {table.qualified_name}: {str(err).strip()}")
        return
    if not stats.inserted <= rows <= stats.inserted + stats.updated:
        stats.accounting_failed(
            f"{table.qualified_name} holds {rows} rows of run {run_id}, but the run counted "
            f"{stats.inserted} inserted and {stats.updated} updated"
        )
    if quarantined != stats.quarantined:
        stats.accounting_failed(
            f"raw.quarantine holds {quarantined} records of run {run_id}, but the run "
            f"counted {stats.quarantined}"
        )


async def _analyze(
    conn: psycopg.AsyncConnection[Any], table: RawTable, stats: EndpointStats
) -> None:
    """Refresh the planner's statistics of ``table`` after a load that changed much of it.

    The data is in either way, so a failure here is a note, not a failed endpoint.
    """
    rows_written = stats.inserted + stats.updated + stats.unchanged  # unchanged: touched
    try:
        if await raw.analyze_if_stale(conn, table, rows_written):
            logger.info(
                "%s: analyzed %s after writing %d rows",
                stats.name,
                table.qualified_name,
                rows_written,
            )
    except psycopg.Error as err:
        logger.warning(
            "%s: could not analyze %s: %s", stats.name, table.qualified_name, str(err).strip()
        )
        stats.notes.append(f"analyze {table.qualified_name} failed: {str(err).strip()}")


def _collect(
    spec: EndpointSpec,
    page: _Page,
    rows: list[raw.RawRow],
    rejected: list[raw.QuarantineRow],
    stats: EndpointStats,
) -> None:
    if page.body_error is not None:
        # The page as a whole: its body is in the lake (lake_document_id), the reason here.
        rejected.append(
            raw.QuarantineRow(
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
    latest = _latest_allowed(page.response.fetched_at)
    for record in page.parsed.records:
        too_late = _after(record, latest)
        if too_late is not None:
            rejected.append(
                raw.QuarantineRow(
                    spec.source, spec.endpoint, too_late, record.record, None, page.lake_document_id
                )
            )
            continue
        try:
            record_json = raw.dumps(record.record)
        except ValueError:  # NaN or Infinity cannot go into jsonb
            rejected.append(
                raw.QuarantineRow(
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
                raw.QuarantineRow(
                    spec.source,
                    spec.endpoint,
                    f"record cannot be stored as JSON: {error_reason(err)}",
                    None,
                    None,
                    page.lake_document_id,
                )
            )
            continue
        problem = raw.jsonb_problem(record_json)
        if problem is not None:
            rejected.append(
                raw.QuarantineRow(
                    spec.source, spec.endpoint, problem, record.record, None, page.lake_document_id
                )
            )
            continue
        rows.append(
            raw.RawRow(record.key, record_json, page.response.fetched_at, page.lake_document_id)
        )
    for item in page.parsed.rejected:
        rejected.append(
            raw.QuarantineRow(
                spec.source, spec.endpoint, item.reason, item.record, None, page.lake_document_id
            )
        )
    # Records rejected above, on their way to raw.*, are among the records counted here.
    stats.fetched += len(page.parsed.records) + len(page.parsed.rejected)


# --------------------------------------------------------------------------- page checks
SNAPSHOT_SLACK = timedelta(hours=1)  # a snapshot's timestamp may run ahead of our clock


def _latest_allowed(fetched_at: datetime) -> dict[str | None, datetime]:
    """The newest time a record may carry, by its interval key (None: no interval)."""
    limits: dict[str | None, datetime] = {
        interval: fetched_at + timedelta(seconds=seconds)
        for interval, seconds in INTERVAL_SECONDS.items()
    }
    limits[None] = fetched_at + SNAPSHOT_SLACK
    return limits


def _after(record: Record, latest: dict[str | None, datetime]) -> str | None:
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


def _period(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def _check_page(
    spec: EndpointSpec, page: _Page, states: dict[tuple[str, ...], raw.SeriesState]
) -> tuple[datetime | None, list[raw.KnownEmpty]]:
    """The first period a page lacks (a short or empty page), or None; and the holes the
    provider is known to leave (``spec.omits_empty_periods``), to record as known-empty."""
    first_hole: datetime | None = None
    known: list[raw.KnownEmpty] = []
    for expected in page.request.expect:
        required = expected.required(page.response.fetched_at)
        if not required:
            continue
        have = {
            _period(r.key[-1])
            for r in page.parsed.records
            if expected.series is None or tuple(str(v) for v in r.key[:-1]) == expected.series
        }
        missing = [t for t in required if t not in have]
        if not missing:
            continue
        present = sorted(t for t in have if t is not None)
        if (
            present
            and expected.series is not None
            and expected.series not in states
            and missing[-1] < present[0]
        ):
            continue  # a new series: nothing before its first record (its listing)
        if (
            spec.omits_empty_periods
            and present
            and missing[-1] < present[-1]
            and not page.parsed.rejected
        ):  # a rejected record is not an empty period
            series = " ".join(expected.series or ())
            known.extend(raw.KnownEmpty(series, t, spec.omits_empty_periods) for t in missing)
            continue
        if first_hole is None or missing[0] < first_hole:
            first_hole = missing[0]
    return first_hole, known


def _before(parsed: ParseResult, hole: datetime) -> ParseResult:
    """The records of ``parsed`` dated before ``hole`` (rejected records are kept)."""
    kept = [r for r in parsed.records if (_period(r.key[-1]) or hole) < hole]
    return ParseResult(kept, parsed.rejected)


async def _flush(
    spec: EndpointSpec,
    loader: raw.RawLoader,
    rows: list[raw.RawRow],
    rejected: list[raw.QuarantineRow],
    stats: EndpointStats,
    lake_acks: Sequence[tuple[str, asyncio.Future[StoredResponse]]] = (),
    *,
    ack_timeout: float = 120.0,
    deadline: float | None = None,
) -> None:
    """Load one batch; it commits only after the lake acknowledged ``lake_acks``."""
    if not rows and not rejected:
        return
    batch, bad = list(rows), list(rejected)
    rows.clear()
    rejected.clear()
    try:
        stats.add_counts(await _load(spec, loader, batch, bad, lake_acks, ack_timeout, deadline))
    except BaseException:
        # Rolled back: these records were fetched but not landed (a rerun fetches them
        # again), so they leave the run's count and fetched = inserted + … still holds.
        _unlanded(stats, len(batch) + len(bad))
        raise


def _unlanded(stats: EndpointStats, records: int) -> None:
    if records:
        stats.fetched -= records
        stats.notes.append(
            f"{records} fetched records were not landed (run stopped); "
            "they are not counted as fetched"
        )


async def _load(
    spec: EndpointSpec,
    loader: raw.RawLoader,
    batch: list[raw.RawRow],
    bad: list[raw.QuarantineRow],
    lake_acks: Sequence[tuple[str, asyncio.Future[StoredResponse]]],
    ack_timeout: float,
    deadline: float | None = None,
) -> raw.LoadCounts:
    async def lake_written() -> dict[str, str]:
        # Raises (rolling the batch back) when a lake write failed or was not acknowledged
        # in time: the raw transaction never waits on MongoDB without a deadline. Returns
        # the documents an older lake holds under another _id, for the rows to point at.
        stored = await _lake_acknowledged([ack for _, ack in lake_acks], ack_timeout)
        return {
            computed: result.document_id
            for (computed, _), result in zip(lake_acks, stored, strict=True)
            if computed != result.document_id
        }

    try:
        async with asyncio.timeout(deadline):
            return await loader.load(batch, bad, before_commit=lake_written if lake_acks else None)
    except TimeoutError as err:
        if any(
            isinstance(ack.exception(), LakeTimeoutError)
            for _, ack in lake_acks
            if ack.done() and not ack.cancelled()
        ):
            raise
        raise PostgresHungError(
            f"{spec.name}: PostgreSQL did not answer within {deadline:g}s while loading "
            f"{len(batch)} records into {spec.raw_table.qualified_name} (is the server "
            "hung?); that batch was rolled back, earlier batches are kept, and a rerun "
            "resumes from the newest loaded record"
        ) from err
    except PyMongoError as err:  # the batch waited for its lake documents
        raise raw.LoadError(
            f"{spec.name}: MongoDB (the lake) failed while {len(batch)} records waited for "
            f"their lake documents ({short_error(err)}); that batch was rolled back, earlier "
            "batches are kept, and a rerun resumes from the newest loaded record"
        ) from err
    except psycopg.OperationalError as err:
        raise raw.LoadError(
            f"{spec.name}: lost the PostgreSQL connection while loading {len(batch)} records "
            f"into {spec.raw_table.qualified_name} ({str(err).strip() or type(err).__name__}); "
            "that batch was rolled back, earlier batches are kept, and a rerun resumes from "
            "the newest loaded record"
        ) from err


class PostgresHungError(raw.LoadError):
    """PostgreSQL did not answer a batch within the client's deadline (a hung server)."""


class LakeTimeoutError(IngestionError):
    """MongoDB did not acknowledge lake documents within ``lake_ack_timeout_seconds``."""


async def _lake_acknowledged(
    acks: Sequence[asyncio.Future[StoredResponse]], timeout: float
) -> list[StoredResponse]:
    """The lake's answers to ``acks``; raises what a write raised, or
    :class:`LakeTimeoutError` when they are not all in within ``timeout`` seconds."""
    if acks:
        _, pending = await asyncio.wait(acks, timeout=timeout)
        if pending:
            raise LakeTimeoutError(
                f"MongoDB (the lake) did not acknowledge {len(pending)} of {len(acks)} "
                f"documents within {timeout:g}s (CRIPTOPIPE_LAKE_ACK_TIMEOUT_SECONDS)"
            )
    return [ack.result() for ack in acks]


async def _count_lake_documents(
    acks: Sequence[asyncio.Future[StoredResponse]],
    stats: EndpointStats,
    timeout: float,
) -> None:
    """Wait for the endpoint's lake writes; count new documents, report failed writes."""
    if acks:
        _, pending = await asyncio.wait(acks, timeout=timeout)
        if pending:
            stats.status = "failed"
            stats.error = _join(
                stats.error,
                f"{stats.name}: MongoDB (the lake) did not "
                f"acknowledge {len(pending)} documents within {timeout:g}s",
            )
    results = [
        ack.exception() or ack.result()
        if ack.done() and not ack.cancelled()
        else asyncio.CancelledError()
        for ack in acks
    ]
    stats.lake_documents += sum(1 for r in results if isinstance(r, StoredResponse) and r.is_new)
    errors = {
        f"{type(r).__name__}: {r}"
        for r in results
        if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
    }
    for error in sorted(errors):
        stats.status = "failed"
        stats.error = _join(stats.error, f"{stats.name}: lake (MongoDB) write failed: {error}")


def _report(run: _Run, spec: EndpointSpec, done: int, total: int, records: int) -> None:
    if run.progress is not None:
        run.progress(ProgressEvent(spec.source, spec.endpoint, done, total, records))


# --------------------------------------------------------------------------- replay
async def replay_from_lake(
    settings: Settings,
    source: str | None = None,
    since: date | datetime | None = None,
    *,
    endpoint: str | None = None,
    run_id: str | None = None,
) -> RunSummary:
    """Rebuild ``raw.*`` from ``lake.responses`` without calling any API.

    Responses are replayed oldest first with the connectors' own parsers, so the newest
    version of every record wins, exactly as if the runs had happened again.
    """
    summary = RunSummary(run_id or "replay-" + new_run_id(), datetime.now(UTC))  # wall time
    targets = resolve_stores(settings)
    since_at = _as_utc(since)
    by_endpoint: dict[tuple[str, str], EndpointStats] = {}
    loaders: dict[tuple[str, str], raw.RawLoader] = {}
    pending: dict[tuple[str, str], tuple[list[raw.RawRow], list[raw.QuarantineRow]]] = {}
    mongo = mongo_client(settings, targets.mongo_uri)
    try:
        lake = Lake.connect(mongo, targets.mongo_db)
        async with await pg_connect(settings, targets.loader_dsn) as conn:
            await raw.ensure_schema(conn)
            async for document in lake.iter_responses(
                source=source, endpoint=endpoint, since=since_at
            ):
                spec = _replayed_spec(document)
                if spec is None or _is_error_document(document):
                    continue  # an API error kept for the record: it never held records
                key = (spec.source, spec.endpoint)
                stats = by_endpoint.setdefault(key, EndpointStats(*key))
                loader = loaders.setdefault(
                    key, raw.RawLoader(conn, spec.raw_table, summary.run_id)
                )
                rows, rejected = pending.setdefault(key, ([], []))
                _collect(spec, _replayed_page(spec, document), rows, rejected, stats)
                if len(rows) >= BATCH_ROWS:
                    await _flush(spec, loader, rows, rejected, stats)
            for key, (rows, rejected) in pending.items():
                await _flush(get_endpoint(*key), loaders[key], rows, rejected, by_endpoint[key])
            for (source_name, endpoint_name), stats in by_endpoint.items():
                table = get_endpoint(source_name, endpoint_name).raw_table
                await _analyze(conn, table, stats)
                await _reconcile(conn, loaders[(source_name, endpoint_name)], stats)
                stats.finished_at = datetime.now(UTC)
                stats.check_sum()
                stats.notes.append("replayed from lake.responses")
                await _record_run(summary.run_id, targets, stats, conn)
    except PyMongoError as err:
        raise mongo_unavailable(targets.mongo_uri, err) from err
    except psycopg.OperationalError as err:
        raise pg_unavailable(targets.loader_dsn, err) from err
    finally:
        await mongo.close()
    summary.endpoints = list(by_endpoint.values())
    summary.finished_at = datetime.now(UTC)
    return summary


def _replayed_spec(document: dict[str, Any]) -> EndpointSpec | None:
    """The endpoint a lake document belongs to; None (logged) for one no connector has."""
    try:
        return get_endpoint(str(document["source"]), str(document["endpoint"]))
    except (KeyError, ValueError) as err:
        logger.warning("lake document %s skipped: %s", document.get("_id"), error_reason(err))
        return None


def _is_error_document(document: dict[str, Any]) -> bool:
    try:
        status = int(document.get("status", 200))
    except (TypeError, ValueError):
        return False  # replayed, and quarantined there if the rest is as odd
    if status >= 400:
        return True
    if document["source"] != "kraken":
        return False
    try:
        return is_error_body("kraken", status, json.loads(document["body"]))
    except (TypeError, ValueError, RecursionError):
        return False


def _replayed_page(spec: EndpointSpec, document: dict[str, Any]) -> _Page:
    """The page a lake document holds, as the run that fetched it saw it; never raises.

    A document that cannot be read (a body that is not JSON, a field missing) becomes a
    page quarantined with the reason, like a body its parser rejects."""
    document_id = str(document.get("_id"))
    request = PlannedRequest("?", {})
    fetched_at = datetime.now(UTC)
    try:
        stored = document["request"]
        request = PlannedRequest(
            str(stored["path"]), {str(k): str(v) for k, v in (stored.get("params") or {}).items()}
        )
        fetched_at = document["fetched_at"]
        if not isinstance(fetched_at, datetime):
            raise TypeError(f"fetched_at is {fetched_at!r}, not a time")
        if fetched_at.tzinfo is None:
            fetched_at = fetched_at.replace(tzinfo=UTC)
        text = document["body"]
        data = json.loads(text)
    except Exception as err:
        response = Response(
            spec.source, spec.endpoint, request.path, request.params, 0, {}, "", None, fetched_at
        )
        return _Page(
            request,
            response,
            ParseResult(),
            document_id,
            f"lake document cannot be replayed: {error_reason(err)}",
        )
    response = Response(
        spec.source, spec.endpoint, request.path, request.params, 200, {}, text, data, fetched_at
    )
    page = parse_page(spec, request.path, request.params, data, fetched_at)
    return _Page(request, response, page.result, document_id, page.error)
