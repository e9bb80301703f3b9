"""The run log: one run of an endpoint at a time, its rows, and its ``raw.ingestion_runs`` row.

:func:`lock_endpoint` holds an endpoint's session advisory lock, so two runs of it never
load at once. :func:`rows_of_run` counts what a run wrote (the runner reconciles its
numbers with it) and :func:`write_run_row` writes the run's row.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from ingestion.raw_tables import RawTable
from ingestion.sinks.raw.schema import table_sql

ENDPOINT_LOCK_CLASS = 727_274_002  # first key of the per-endpoint advisory locks


async def lock_endpoint(
    conn: psycopg.AsyncConnection[Any], name: str, *, timeout_s: float = 1800.0
) -> float | None:
    """Hold the session advisory lock of endpoint ``name`` on ``conn``.

    Two runs of one endpoint (a schedule, a backfill, ``criptopipe ingest``) never load at
    once: the second waits, then plans from what the first loaded. The lock goes with the
    connection (a killed run frees it).

    Args:
        conn: The endpoint's loader connection.
        name: The endpoint, ``<source>/<endpoint>``.
        timeout_s: How long to wait for another run of it.

    Returns:
        The seconds it waited for another run to finish, or None when the lock was free.

    Raises:
        psycopg.errors.LockNotAvailable: The other run did not finish within ``timeout_s``.
    """
    cur = await conn.execute(
        "select pg_try_advisory_lock(%s, hashtext(%s))", [ENDPOINT_LOCK_CLASS, name]
    )
    row = await cur.fetchone()
    if row is not None and row[0]:
        return None
    started = time.monotonic()
    await conn.execute(
        sql.SQL("set lock_timeout = {}").format(sql.Literal(f"{int(timeout_s * 1000)}ms"))
    )
    try:
        await conn.execute("select pg_advisory_lock(%s, hashtext(%s))", [ENDPOINT_LOCK_CLASS, name])
    finally:
        await conn.execute("reset lock_timeout")
    return time.monotonic() - started


async def rows_of_run(
    conn: psycopg.AsyncConnection[Any], table: RawTable, run_id: str, since: datetime | None
) -> tuple[int, int]:
    """Rows of ``table`` whose last write was run ``run_id``, and its quarantined records.

    Every row a run writes gets its fetch time as ``last_seen_at``, no earlier than the
    earliest fetch the run loaded (``since``), which lets candle tables answer from their
    ``last_seen_at`` index.
    """
    cur = await conn.execute(
        sql.SQL(
            "select (select count(*) from {table} where last_seen_at >= %(since)s"
            " and run_id = %(run_id)s), (select count(*) from raw.quarantine"
            " where source = %(source)s and endpoint = %(endpoint)s"
            " and run_id = %(run_id)s)"
        ).format(table=table_sql(table)),
        {
            "since": since or datetime.max.replace(tzinfo=UTC),
            "run_id": run_id,
            "source": table.source,
            "endpoint": table.endpoint,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def write_run_row(conn: psycopg.AsyncConnection[Any], row: dict[str, Any]) -> None:
    """Write (or overwrite) the ``raw.ingestion_runs`` row of one run and endpoint."""
    columns = list(row)
    query = sql.SQL(
        "insert into raw.ingestion_runs ({columns}) values ({values}) "
        "on conflict (run_id, source, endpoint) do update set {updates}"
    ).format(
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        values=sql.SQL(", ").join(sql.Placeholder(c) for c in columns),
        updates=sql.SQL(", ").join(
            sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c))
            for c in columns
            if c not in ("run_id", "source", "endpoint")
        ),
    )
    async with conn.transaction():
        await conn.execute(query, row)
