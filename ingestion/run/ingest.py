"""Run ingestion: :func:`run_ingestion`, the entry point of the CLI and the Dagster assets.

It resolves the stores and reaches both servers before any request, then runs every
selected endpoint's :class:`~ingestion.run.pipeline.EndpointPipeline` concurrently, on one
HTTP client, one lake writer and one clock. One endpoint (or source) failing never stops
the others. This package never imports Dagster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import zlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg import sql
from pymongo.errors import PyMongoError
from zstandard import ZstdError

from ingestion import asset_symbols
from ingestion.clock import clock_for, fixed_clock
from ingestion.connections import (
    mongo_client,
    mongo_unavailable,
    pg_connect,
    pg_unavailable,
)
from ingestion.connectors.base import EndpointSpec
from ingestion.connectors.registry import REGISTRY, describe, get_endpoint, select
from ingestion.errors import StoreUnavailableError
from ingestion.http import HttpClient
from ingestion.resolution import Resolution, ResolutionError
from ingestion.run.bookkeeping import record_run
from ingestion.run.collector import fewer_collections
from ingestion.run.offload import PageParser
from ingestion.run.pipeline import RunContext, run_endpoint
from ingestion.run.results import EndpointStats, ProgressCallback, RunSummary
from ingestion.run.stores import StoreTargets, resolve_stores
from ingestion.settings import Settings
from ingestion.sinks.lake import Lake, LakeWriter, stored_body
from ingestion.sinks.raw.schema import ensure_schema, table_sql

logger = logging.getLogger(__name__)


def new_run_id(at: datetime | None = None) -> str:
    """A new run id: the time (``at``, default now) in UTC and a random suffix."""
    return (at or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


def as_utc(value: date | datetime | None, *, end: bool = False) -> datetime | None:
    """``value`` as a UTC time; dates are whole UTC days.

    Args:
        value: A date, a time (naive times are UTC) or None.
        end: Whether ``value`` ends a window: an end date includes its own day.

    Returns:
        The time: a start date's midnight, an end date's next midnight; None for None.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    midnight = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return midnight + timedelta(days=1) if end else midnight


RANKS_ENDPOINT = "coingecko/markets"  # market-cap ranks choose among namesake coins


def resolution_specs() -> tuple[EndpointSpec, ...]:
    """The endpoints resolving the assets reads: every listing, and the market-cap ranks."""
    return tuple(s for s in REGISTRY if s.is_listing or s.name == RANKS_ENDPOINT)


def phases(
    specs: Sequence[EndpointSpec], loaded: frozenset[str]
) -> tuple[list[EndpointSpec], list[EndpointSpec], list[EndpointSpec]]:
    """Split a run: (first, bootstrap, then).

    ``first``: the selected endpoints planned without the assets: the listings and the
    market-cap ranks (which resolving the configured tickers reads) and series of the whole
    market; ``bootstrap``: the listings and ranks not selected but never loaded (a fresh
    warehouse), fetched first when the run needs the assets; ``then``: the endpoints
    planned from the resolved assets.

    Args:
        specs: The selected endpoints.
        loaded: Names of the listing (and ranks) endpoints the warehouse holds rows of.

    Returns:
        The three groups, each in registry order.
    """
    needed = resolution_specs()
    first = [s for s in specs if s in needed or not s.needs_assets]
    then = [s for s in specs if s not in first]
    bootstrap: list[EndpointSpec] = []
    if then:
        bootstrap = [s for s in needed if s.name not in loaded and s not in first]
    return first, bootstrap, then


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

    Args:
        settings: The configuration (stores, HTTP limits, assets, clock).
        sources: Only these sources (default: all).
        endpoints: Only these endpoints (default: all of the selected sources).
        start: Backfill a window of the time-windowed endpoints from this day or time;
            without it each series continues from its newest loaded record.
        end: The window's end (a date includes its own day; default: the run's clock).
        assets: The assets to track (default: ``settings.assets``).
        run_id: The run's id (default: a new one).
        progress: Told after planning and after each page is written.
        now: Freeze the run's clock (default: the settings' clock, see
            ``ingestion.clock``): windows end there, responses are dated by it, and
            records dated after it plus one interval are quarantined.
        http: A configured client (rate limits); otherwise one is made, on the run's clock.

    Returns:
        What each endpoint did; an endpoint's failure is in its stats, never raised.

    Raises:
        ValueError: An unknown source, endpoint or asset.
        StoreUnavailableError: PostgreSQL or MongoDB cannot be reached.
    """
    specs = select(sources, endpoints)
    clock = fixed_clock(now) if now is not None else clock_for(settings)
    run_now = clock()
    summary = RunSummary(run_id or new_run_id(run_now), run_now)
    targets = resolve_stores(settings)
    start_at, end_at = as_utc(start), as_utc(end, end=True)
    if start_at is not None and end_at is None:
        end_at = run_now
    async with contextlib.AsyncExitStack() as stack:
        stack.enter_context(fewer_collections())
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
        parser = PageParser(settings)
        stack.callback(parser.close)
        run = RunContext(
            settings,
            summary.run_id,
            targets,
            client,
            lake,
            writer,
            (),
            run_now,
            start_at,
            end_at,
            progress,
            clock,
            parser=parser,
        )
        summary.endpoints = await _run_in_phases(run, specs, assets)
    summary.finished_at = clock()
    logger.info(
        "run %s finished: %d endpoints, %d failed",
        summary.run_id,
        len(summary.endpoints),
        len(summary.failed),
    )
    return summary


async def _published_budgets(
    client: HttpClient,
    lake: Lake,
    conn: psycopg.AsyncConnection[Any],
    specs: Sequence[EndpointSpec],
) -> None:
    """Pace each source by the request-weight budget its newest stored listing publishes.

    Binance publishes its budget in ``exchangeInfo``: a run that does not fetch that
    listing again keeps the API's own figure instead of the smallest one. The listing's
    newest raw row names the lake document it came from, which is read by ``_id`` (a
    query on the lake's other fields scans every document on FerretDB: seconds on a big
    lake). A listing the run fetches sets the budget again
    (:meth:`HttpClient.learn_weight_budget`).
    """
    for source in sorted({spec.source for spec in specs}):
        rule = describe(source).weight
        if rule is None or rule.published_by is None:
            continue
        table = get_endpoint(source, rule.published_by).raw_table
        try:
            cur = await conn.execute(
                sql.SQL(
                    "select lake_document_id from {} where lake_document_id is not null"
                    " order by fetched_at desc limit 1"
                ).format(table_sql(table))
            )
            row = await cur.fetchone()
            document = await lake.get(row[0]) if row is not None else None
            body = orjson.loads(stored_body(document)) if document is not None else None
        # whatever the stores, or a stored body they cannot give back, do: the default stays
        except (
            psycopg.Error,
            PyMongoError,
            ValueError,
            KeyError,
            TypeError,
            OSError,
            zlib.error,
            ZstdError,
        ) as err:
            logger.warning(
                "%s: the newest %s in the lake could not be read (%s); its requests keep "
                "under the smallest published budget until the run fetches it",
                source,
                rule.published_by,
                str(err).strip() or type(err).__name__,
            )
            continue
        if document is not None and document.get("status") == 200:
            client.learn_weight_budget(source, str(document["request"]["path"]), body)


async def _run_in_phases(
    run: RunContext, specs: Sequence[EndpointSpec], assets: Sequence[str] | None
) -> list[EndpointStats]:
    """Listings and what needs no assets first; then resolution; then the rest.

    The stats come in the order of ``specs``, then the listings fetched only to bootstrap
    a fresh warehouse. When the assets cannot be resolved (an unknown ticker), the
    endpoints that need them are recorded as failed with the reason, and nothing of
    theirs is requested.
    """
    async with await pg_connect(run.settings, run.targets.loader_dsn) as conn:
        loaded = (await asset_symbols.load_listings(conn)).loaded
        await _published_budgets(run.http, run.lake, conn, specs)
    first, bootstrap, then = phases(specs, loaded)
    done: dict[str, EndpointStats] = {}
    for stats in await asyncio.gather(*(run_endpoint(run, s) for s in (*first, *bootstrap))):
        done[stats.name] = stats
    if then:
        resolution, failure, loaded = await _resolve_assets(run, assets)
        if resolution is not None:
            run.assets = resolution.select(assets)
            coin_source = next((s.source for s in REGISTRY if s.name == RANKS_ENDPOINT), "")
            run.asset_notes = {coin_source: list(resolution.notes)}
            unknown = {s.name: _listing_missing(s, loaded, done) for s in then}
            ready = [s for s in then if unknown[s.name] is None]
            for stats in await asyncio.gather(*(run_endpoint(run, s) for s in ready)):
                done[stats.name] = stats
        failed = (
            [(s, failure) for s in then if s.name not in done]
            if resolution is None
            else [(s, unknown[s.name]) for s in then if s.name not in done]
        )
        if failed:
            for spec, why in failed:
                now = run.clock()
                stats = EndpointStats(
                    spec.source,
                    spec.endpoint,
                    status="failed",
                    error=why,
                    started_at=now,
                    finished_at=now,
                )
                await record_run(run.run_id, run.targets, stats, None)
                done[stats.name] = stats
    return [done[s.name] for s in specs] + [done[s.name] for s in bootstrap]


def _listing_missing(
    spec: EndpointSpec, loaded: frozenset[str], done: dict[str, EndpointStats]
) -> str | None:
    """Why ``spec`` cannot be planned (its exchange's listing never loaded), or None."""
    rules = describe(spec.source).exchange
    if rules is None or f"{spec.source}/{rules.listing}" in loaded:
        return None
    listing = f"{spec.source}/{rules.listing}"
    error = done[listing].error if listing in done else None
    return f"{spec.name}: the {listing} listing is not loaded, so its pairs are unknown" + (
        f" ({error})" if error else ""
    )


async def _resolve_assets(
    run: RunContext, assets: Sequence[str] | None
) -> tuple[Resolution | None, str | None, frozenset[str]]:
    """Resolve the configured assets (or ``assets``) from the newest listings loaded.

    The mapping is stored in ``raw.asset_symbols``. Returns (resolution, None, loaded)
    or (None, why not, loaded), ``loaded`` naming the listings the warehouse holds.
    """
    settings = run.settings
    if assets:
        settings = settings.model_copy(update={"assets": tuple(assets)})
    async with await pg_connect(run.settings, run.targets.loader_dsn) as conn:
        loaded = await asset_symbols.load_listings(conn)
        if not loaded.loaded:
            return (
                None,
                "cannot resolve the assets: no listing is loaded (the listing endpoints "
                "failed: see their errors); nothing was requested",
                loaded.loaded,
            )
        try:
            resolution = asset_symbols.resolve_loaded(settings, loaded)
        except (ResolutionError, ValueError) as err:
            logger.error("run %s: %s", run.run_id, err)
            return None, f"cannot resolve the assets: {err}", loaded.loaded
        await asset_symbols.write_resolution(
            conn, resolution, run.run_id, run.now, untrack_others=not assets
        )
    for problem in loaded.problems:
        logger.warning("a listing entry could not be read: %s", problem)
    return resolution, None, loaded.loaded


async def _prepare_stores(
    settings: Settings,
    targets: StoreTargets,
    lake: Lake,
    summary: RunSummary,
    specs: Sequence[EndpointSpec],
) -> None:
    """Reach both servers (schema, indexes) before any request.

    Raises:
        StoreUnavailableError: A server cannot be reached (the message names it); when it
            is MongoDB, a failed run of every selected endpoint is recorded first.
    """
    try:
        async with await pg_connect(settings, targets.loader_dsn) as conn:
            await ensure_schema(conn)
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
            await record_run(summary.run_id, targets, stats, None)
        raise StoreUnavailableError(
            f"{unavailable}; run {summary.run_id} recorded as failed in raw.ingestion_runs"
        ) from err
