"""Where each series resumes, from what ``raw.*`` holds; and the periods known to be empty.

Incremental cursors are derived from the loaded data, never kept in a separate state store
that could drift from it: :func:`series_states` reads, per series, the newest record and
the oldest candle still open when it was last fetched. :func:`record_known_empty` keeps
the periods a provider has no record for, so the gap sensor does not ask for them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from psycopg import sql

from ingestion.intervals import interval_sql
from ingestion.raw_tables import RawTable
from ingestion.sinks.raw.rows import KnownEmpty
from ingestion.sinks.raw.schema import table_sql


def _as_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise TypeError(f"not a time: {value!r}")


INTERVAL_SQL = interval_sql()  # the length of a candle interval label, in SQL


@dataclass(frozen=True, slots=True)
class SeriesState:
    """What ``raw.*`` holds of one series, as planning needs it.

    ``resume_at``: where an incremental run continues — the oldest candle still open when it
    was last fetched, else just after the newest candle (a series without candle intervals,
    such as daily FX rates, re-fetches its newest record). ``reopen``: the oldest candle
    still open at its last fetch, or None: every mode (partition, backfill, gap run)
    fetches it again, however far before its window it lies.
    """

    resume_at: datetime
    reopen: datetime | None


async def series_states(
    conn: psycopg.AsyncConnection[Any], table: RawTable, now: datetime
) -> dict[tuple[str, ...], SeriesState]:
    """What ``table`` holds of each series, as planning needs it.

    Args:
        conn: A connection to the warehouse.
        table: The raw table.
        now: The run's clock: only records dated up to it count (a record from the future
            never moves a cursor).

    Returns:
        A :class:`SeriesState` per series, keyed by the key columns before the time.
    """
    *group, time_key = table.key_names
    time_col = sql.Identifier(time_key)
    group_sql = sql.SQL(", ").join(sql.Identifier(k) for k in group)
    if "interval" in group:
        length = sql.SQL(INTERVAL_SQL).format(col=sql.Identifier("interval"))
        newest = sql.SQL("max({t} + {len})").format(t=time_col, len=length)
        reopen = sql.SQL("min({t}) filter (where {t} + {len} > last_seen_at)").format(
            t=time_col, len=length
        )
    else:
        newest = sql.SQL("max({t})").format(t=time_col)
        reopen = sql.SQL("null::timestamptz").format()
    query = sql.SQL(
        "select {select}{newest}, {reopen} from {table} where {t} <= %(now)s{group_by}"
    ).format(
        select=group_sql + sql.SQL(", ") if group else sql.SQL(""),
        newest=newest,
        reopen=reopen,
        t=time_col,
        table=table_sql(table),
        group_by=sql.SQL(" group by ") + group_sql if group else sql.SQL(""),
    )
    result: dict[tuple[str, ...], SeriesState] = {}
    async with conn.cursor() as cur:
        await cur.execute(query, {"now": now})
        for row in await cur.fetchall():
            *values, newest_at, reopen_at = row
            if newest_at is None:
                continue
            opened = None if reopen_at is None else _as_datetime(reopen_at)
            result[tuple(str(v) for v in values)] = SeriesState(
                opened if opened is not None else _as_datetime(newest_at), opened
            )
    return result


async def cursors(
    conn: psycopg.AsyncConnection[Any], table: RawTable, now: datetime
) -> dict[tuple[str, ...], datetime]:
    """Where each series resumes (see :class:`SeriesState`)."""
    return {k: v.resume_at for k, v in (await series_states(conn, table, now)).items()}


# --------------------------------------------------------------------------- known-empty
async def record_known_empty(
    conn: psycopg.AsyncConnection[Any],
    table: RawTable,
    holes: Sequence[KnownEmpty],
    run_id: str,
) -> None:
    """Remember periods a provider has no record for (the gap sensor skips them)."""
    if not holes:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "insert into raw.known_empty (source, endpoint, series, period_start, reason,"
            " run_id) values (%s, %s, %s, %s, %s, %s)"
            " on conflict (source, endpoint, series, period_start) do nothing",
            [
                (table.source, table.endpoint, h.series, h.period_start, h.reason, run_id)
                for h in holes
            ],
        )
