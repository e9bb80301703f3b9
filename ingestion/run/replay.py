"""Replay: rebuild ``raw.*`` from ``lake.responses`` without calling any API.

Responses are replayed oldest first with the same page parser as fetch
(:func:`~ingestion.run.pages.read_page`), so the newest version of every record wins,
exactly as if the runs had happened again. Error responses kept for the record are
skipped; a document that cannot be read is quarantined with the reason. A replay of the
listings resolves the configured assets again (``raw.asset_symbols``), as a run does.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from pymongo.errors import PyMongoError

from ingestion import asset_symbols
from ingestion.connections import mongo_client, mongo_unavailable, pg_connect, pg_unavailable
from ingestion.connectors.base import EndpointSpec, ParseResult, PlannedRequest, error_reason
from ingestion.connectors.registry import DESCRIPTIONS, get_endpoint
from ingestion.http import Response, is_error_body
from ingestion.resolution import ResolutionError
from ingestion.run.batches import analyze, flush, reconcile
from ingestion.run.bookkeeping import record_run
from ingestion.run.ingest import as_utc, new_run_id, resolution_specs
from ingestion.run.pages import Page, collect, read_page
from ingestion.run.pipeline import BATCH_ROWS
from ingestion.run.results import EndpointStats, RunSummary
from ingestion.run.stores import resolve_stores
from ingestion.settings import Settings
from ingestion.sinks.lake import Lake, stored_text
from ingestion.sinks.raw.loader import RawLoader
from ingestion.sinks.raw.rows import QuarantineRow, RawRow
from ingestion.sinks.raw.schema import ensure_schema

logger = logging.getLogger(__name__)


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

    Args:
        settings: The configuration (the stores).
        source: Only this source's responses (default: all).
        since: Only responses fetched on or after this day or time.
        endpoint: Only this endpoint's responses.
        run_id: The replay's run id (default: ``replay-`` and a new one).

    Returns:
        What was replayed per endpoint (each gets its ``raw.ingestion_runs`` row).

    Raises:
        StoreUnavailableError: PostgreSQL or MongoDB cannot be reached.
    """
    summary = RunSummary(run_id or "replay-" + new_run_id(), datetime.now(UTC))  # wall time
    targets = resolve_stores(settings)
    since_at = as_utc(since)
    by_endpoint: dict[tuple[str, str], EndpointStats] = {}
    loaders: dict[tuple[str, str], RawLoader] = {}
    pending: dict[tuple[str, str], tuple[list[RawRow], list[QuarantineRow]]] = {}
    mongo = mongo_client(settings, targets.mongo_uri)
    try:
        lake = Lake.connect(mongo, targets.mongo_db)
        async with await pg_connect(settings, targets.loader_dsn) as conn:
            await ensure_schema(conn)
            async for document in lake.iter_responses(
                source=source, endpoint=endpoint, since=since_at
            ):
                spec = _replayed_spec(document)
                if spec is None or _is_error_document(document):
                    continue  # an API error kept for the record: it never held records
                key = (spec.source, spec.endpoint)
                stats = by_endpoint.setdefault(key, EndpointStats(*key))
                loader = loaders.setdefault(key, RawLoader(conn, spec.raw_table, summary.run_id))
                rows, rejected = pending.setdefault(key, ([], []))
                collect(spec, _replayed_page(spec, document), rows, rejected, stats)
                if len(rows) >= BATCH_ROWS:
                    await flush(spec, loader, rows, rejected, stats)
            for key, (rows, rejected) in pending.items():
                await flush(get_endpoint(*key), loaders[key], rows, rejected, by_endpoint[key])
            for (source_name, endpoint_name), stats in by_endpoint.items():
                table = get_endpoint(source_name, endpoint_name).raw_table
                await analyze(conn, table, stats)
                await reconcile(conn, loaders[(source_name, endpoint_name)], stats)
                stats.finished_at = datetime.now(UTC)
                stats.check_sum()
                stats.notes.append("replayed from lake.responses")
                await record_run(summary.run_id, targets, stats, conn)
            listings = {s.name for s in resolution_specs()}
            if any(f"{src}/{name}" in listings for src, name in by_endpoint):
                await _resolve_replayed(conn, settings, summary.run_id)
    except PyMongoError as err:
        raise mongo_unavailable(targets.mongo_uri, err) from err
    except psycopg.OperationalError as err:
        raise pg_unavailable(targets.loader_dsn, err) from err
    finally:
        await mongo.close()
    summary.endpoints = list(by_endpoint.values())
    summary.finished_at = datetime.now(UTC)
    return summary


async def _resolve_replayed(
    conn: psycopg.AsyncConnection[Any], settings: Settings, run_id: str
) -> None:
    """Resolve the configured assets from the replayed listings into ``raw.asset_symbols``.

    The mapping is not an API response, so the lake does not hold it: it is made again,
    as a run would make it, so that dbt maps the replayed candles. When the assets do not
    resolve (an unknown ticker), the replay stands and the reason is logged.
    """
    loaded = await asset_symbols.load_listings(conn)
    try:
        resolution = asset_symbols.resolve_loaded(settings, loaded)
    except (ResolutionError, ValueError) as err:
        logger.warning("replay %s: the assets were not resolved again: %s", run_id, err)
        return
    await asset_symbols.write_resolution(conn, resolution, run_id, datetime.now(UTC))


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
    description = DESCRIPTIONS.get(str(document["source"]))
    if description is None or description.body_errors is None:
        return False  # only a source whose errors hide in a 200 body needs the body read
    try:
        return is_error_body(description.name, status, json.loads(stored_text(document)))
    except (TypeError, ValueError, RecursionError):
        return False


def _replayed_page(spec: EndpointSpec, document: dict[str, Any]) -> Page:
    """The page a lake document holds, as the run that fetched it saw it; never raises.

    A document that cannot be read (a body that is not JSON, a field missing) becomes a
    page quarantined with the reason, like a body its parser rejects.
    """
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
        text = stored_text(document)
        data = json.loads(text)
    except Exception as err:
        response = Response(
            spec.source, spec.endpoint, request.path, request.params, 0, {}, "", None, fetched_at
        )
        return Page(
            request,
            response,
            ParseResult(),
            document_id,
            f"lake document cannot be replayed: {error_reason(err)}",
        )
    response = Response(
        spec.source, spec.endpoint, request.path, request.params, 200, {}, text, data, fetched_at
    )
    return read_page(spec, request, response, document_id)
