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
from ingestion.sinks.raw.schema import open_at_fetch_sql, table_sql


def _as_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise TypeError(f"not a time: {value!r}")


INTERVAL_SQL = interval_sql()  # the length of a candle interval label, in SQL


def series_cte(table: RawTable) -> sql.Composed:
    """``with recursive series (...)``: each series of ``table``, by a loose index scan.

    Each step reads the next key after the previous series from the primary key, so it
    costs O(series * log rows) instead of a ``group by`` over every row. Its columns are
    the table's key columns before the time; ``table`` must have at least one.
    """
    *group, _ = table.key_names
    if not group:
        raise ValueError(f"{table.name}: a single series, no series to list")
    cols = sql.SQL(", ").join(map(sql.Identifier, group))
    return sql.SQL(
        "with recursive series ({cols}) as ("
        "(select {cols} from {table} order by {cols} limit 1)"
        " union all select n.* from series s cross join lateral"
        " (select {cols} from {table} where ({cols}) > ({s_cols}) order by {cols} limit 1) n)"
    ).format(
        cols=cols,
        s_cols=sql.SQL(", ").join(sql.Identifier("s", g) for g in group),
        table=table_sql(table),
    )


def same_series_sql(table: RawTable, inner: str | None = None) -> sql.Composed:
    """``a = s.a and b = s.b …`` over ``table``'s series columns: a row of the series ``s``.

    ``inner`` qualifies the table's side (unqualified by default).
    """
    *group, _ = table.key_names
    return sql.SQL(" and ").join(
        sql.SQL("{} = {}").format(
            sql.Identifier(g) if inner is None else sql.Identifier(inner, g),
            sql.Identifier("s", g),
        )
        for g in group
    )


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


def series_states_sql(table: RawTable) -> sql.Composed:
    """The query of :func:`series_states` (parameter ``now``): a row per series.

    Each row is the series' key columns, where its newest record ends, and its oldest
    candle still open at its last fetch. It reads indexes only: the series by a loose
    scan of the primary key, the newest record by the primary key, the open candle by
    the partial index of :func:`~ingestion.sinks.raw.schema.index_ddl`.
    """
    *group, time_key = table.key_names
    time_col = sql.Identifier(time_key)
    if not group:  # one series: the newest record comes from the primary key
        return sql.SQL(
            "select max({t}), null::timestamptz from {table} where {t} <= %(now)s"
        ).format(t=time_col, table=table_sql(table))
    # Per series (listed by a loose index scan), the newest record by the primary key
    # and the oldest candle still open at its last fetch by the partial index.
    same_series = same_series_sql(table)
    newest: sql.Composable = sql.SQL(
        "(select {t} from {table} where {same} and {t} <= %(now)s order by {t} desc limit 1)"
    ).format(t=time_col, table=table_sql(table), same=same_series)
    reopen: sql.Composable
    if "interval" in group:
        length = sql.SQL(INTERVAL_SQL).format(col=sql.Identifier("s", "interval"))
        newest = sql.SQL("{} + {}").format(newest, length)
        reopen = sql.SQL(
            "(select min({t}) from {table} where {same} and {t} <= %(now)s and {open})"
        ).format(
            t=time_col, table=table_sql(table), same=same_series, open=open_at_fetch_sql(table)
        )
    else:
        reopen = sql.SQL("null::timestamptz")
    return sql.SQL("{series} select {s_cols}, {newest}, {reopen} from series s").format(
        series=series_cte(table),
        s_cols=sql.SQL(", ").join(sql.Identifier("s", g) for g in group),
        newest=newest,
        reopen=reopen,
    )


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
    query = series_states_sql(table)
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
