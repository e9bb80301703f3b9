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
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import psycopg
from pymongo.errors import PyMongoError

from ingestion.clock import clock_for, fixed_clock
from ingestion.connections import (
    mongo_client,
    mongo_unavailable,
    pg_connect,
    pg_unavailable,
)
from ingestion.connectors.base import EndpointSpec
from ingestion.connectors.registry import select
from ingestion.errors import StoreUnavailableError
from ingestion.http import HttpClient
from ingestion.run.bookkeeping import record_run
from ingestion.run.collector import fewer_collections
from ingestion.run.pipeline import RunContext, run_endpoint
from ingestion.run.results import EndpointStats, ProgressCallback, RunSummary
from ingestion.run.stores import StoreTargets, resolve_stores
from ingestion.settings import Settings
from ingestion.sinks.lake import Lake, LakeWriter
from ingestion.sinks.raw.schema import ensure_schema
from ingestion.symbols import Asset, get_asset

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


def _assets(settings: Settings, assets: Sequence[str] | None) -> tuple[Asset, ...]:
    return tuple(get_asset(a) for a in (assets or settings.assets))


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
        run = RunContext(
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
        summary.endpoints = list(await asyncio.gather(*(run_endpoint(run, s) for s in specs)))
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
