"""Run bookkeeping: every endpoint of every run gets its ``raw.ingestion_runs`` row.

The row is written over the endpoint's own loader connection when it still works, else
over fresh connections while PostgreSQL comes back (:data:`RECORD_RUN_RETRY_DELAYS`, about
a minute: a restart). A row the accounting CHECK refuses is written again as failed. Only
when every try fails is the row given up, logged as an error with every number it held.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import psycopg

from ingestion.connectors.base import EndpointSpec
from ingestion.run.results import EndpointStats
from ingestion.run.stores import StoreTargets
from ingestion.sinks.raw.run_log import write_run_row

logger = logging.getLogger(__name__)

RECORD_RUN_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # ~60 s: a restart


async def record_run(
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
    """Write the run's row; one the accounting CHECK refuses is written again as failed.

    The refusal becomes the row's error, so a run whose numbers do not add up is never lost.
    """
    try:
        await write_run_row(conn, row)
    except psycopg.errors.CheckViolation as err:
        stats.accounting_failed(f"raw.ingestion_runs refused the row: {str(err).strip()}")
        row.update(status=stats.status, error=stats.error)
        await write_run_row(conn, row)


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
