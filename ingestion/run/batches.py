"""Loading an endpoint's batches into ``raw.*``, and checking the run's numbers afterwards.

A batch commits only once the lake has acknowledged every document its rows point at
(:func:`flush`), so no raw row ever names a document that was never written; a batch that
rolls back leaves the run's count of fetched records (:func:`unlanded`). After the last
batch, :func:`reconcile` checks the run's counts against the rows the database holds
under its run id, and :func:`analyze` refreshes the table's statistics when they went
stale.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from pymongo.errors import PyMongoError

from ingestion.connections import short_error
from ingestion.connectors.base import EndpointSpec
from ingestion.errors import LakeTimeoutError, LoadError, PostgresHungError
from ingestion.raw_tables import RawTable
from ingestion.run.results import EndpointStats, join_errors
from ingestion.sinks.lake import StoredResponse
from ingestion.sinks.raw.loader import RawLoader
from ingestion.sinks.raw.rows import LoadCounts, QuarantineRow, RawRow
from ingestion.sinks.raw.run_log import rows_of_run
from ingestion.sinks.raw.schema import analyze_if_stale

logger = logging.getLogger(__name__)


async def flush(
    spec: EndpointSpec,
    loader: RawLoader,
    rows: list[RawRow],
    rejected: list[QuarantineRow],
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
        stats.add_counts(
            await _load_batch(spec, loader, batch, bad, lake_acks, ack_timeout, deadline)
        )
    except BaseException:
        # Rolled back: these records were fetched but not landed (a rerun fetches them
        # again), so they leave the run's count and fetched = inserted + … still holds.
        unlanded(stats, len(batch) + len(bad))
        raise


def unlanded(stats: EndpointStats, records: int) -> None:
    """Take ``records`` fetched but never landed (rolled back) out of the run's count.

    A rerun fetches them again; so ``fetched = inserted + updated + unchanged +
    quarantined`` still holds, and a note says how many.
    """
    if records:
        stats.fetched -= records
        stats.notes.append(
            f"{records} fetched records were not landed (run stopped); "
            "they are not counted as fetched"
        )


async def _load_batch(
    spec: EndpointSpec,
    loader: RawLoader,
    batch: list[RawRow],
    bad: list[QuarantineRow],
    lake_acks: Sequence[tuple[str, asyncio.Future[StoredResponse]]],
    ack_timeout: float,
    deadline: float | None = None,
) -> LoadCounts:
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
        raise LoadError(
            f"{spec.name}: MongoDB (the lake) failed while {len(batch)} records waited for "
            f"their lake documents ({short_error(err)}); that batch was rolled back, earlier "
            "batches are kept, and a rerun resumes from the newest loaded record"
        ) from err
    except psycopg.OperationalError as err:
        raise LoadError(
            f"{spec.name}: lost the PostgreSQL connection while loading {len(batch)} records "
            f"into {spec.raw_table.qualified_name} ({str(err).strip() or type(err).__name__}); "
            "that batch was rolled back, earlier batches are kept, and a rerun resumes from "
            "the newest loaded record"
        ) from err


async def _lake_acknowledged(
    acks: Sequence[asyncio.Future[StoredResponse]], timeout: float
) -> list[StoredResponse]:
    """The lake's answers to ``acks``.

    Raises:
        LakeTimeoutError: They are not all in within ``timeout`` seconds; or whatever a
            write raised.
    """
    if acks:
        _, pending = await asyncio.wait(acks, timeout=timeout)
        if pending:
            raise LakeTimeoutError(
                f"MongoDB (the lake) did not acknowledge {len(pending)} of {len(acks)} "
                f"documents within {timeout:g}s (CRIPTOPIPE_LAKE_ACK_TIMEOUT_SECONDS)"
            )
    return [ack.result() for ack in acks]


async def count_lake_documents(
    acks: Sequence[asyncio.Future[StoredResponse]],
    stats: EndpointStats,
    timeout: float,
) -> None:
    """Wait for the endpoint's lake writes; count new documents, report failed writes."""
    if acks:
        _, pending = await asyncio.wait(acks, timeout=timeout)
        if pending:
            stats.status = "failed"
            stats.error = join_errors(
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
        stats.error = join_errors(
            stats.error, f"{stats.name}: lake (MongoDB) write failed: {error}"
        )


async def reconcile(
    conn: psycopg.AsyncConnection[Any], loader: RawLoader, stats: EndpointStats
) -> None:
    """Check the run's numbers against the rows the database holds under its run_id.

    Each row this run inserted or updated names the run (unchanged rows keep the run that
    last wrote them), and each record it quarantined is a row of ``raw.quarantine``. So
    inserted <= rows of the run <= inserted + updated (a key written twice in one run is
    one row), and the quarantine count is exact. A mismatch fails the run.
    """
    table, run_id = loader.table, loader.run_id
    try:
        rows, quarantined = await rows_of_run(conn, table, run_id, loader.earliest_fetch)
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


async def analyze(
    conn: psycopg.AsyncConnection[Any], table: RawTable, stats: EndpointStats
) -> None:
    """Refresh the planner's statistics of ``table`` after a load that changed much of it.

    The data is in either way, so a failure here is a note, not a failed endpoint.
    """
    rows_written = stats.inserted + stats.updated + stats.unchanged  # unchanged: touched
    try:
        if await analyze_if_stale(conn, table, rows_written):
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
