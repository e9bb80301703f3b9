"""The ``raw`` schema's DDL: one table per endpoint plus the bookkeeping tables, and analyze.

:func:`ensure_schema` is idempotent and safe to run from several runs at once (an advisory
lock serialises it); it also brings older bookkeeping tables up to date.
:func:`analyze_if_stale` refreshes a table's planner statistics after a load that made them
stale. Identifiers go through ``psycopg.sql``; values are always parameters.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from ingestion.asset_symbols import DDL as ASSET_SYMBOLS_DDL
from ingestion.intervals import interval_sql
from ingestion.raw_tables import RAW_TABLES, RawTable

logger = logging.getLogger(__name__)

SCHEMA = "raw"
DDL_LOCK = 727_274_001  # advisory lock serialising concurrent DDL of several runs


def table_sql(table: RawTable) -> sql.Composed:
    """The schema-qualified identifier of ``table`` (``raw.<source>__<endpoint>``)."""
    return sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table.name))


def keys_sql(table: RawTable, prefix: str | None = None) -> sql.Composable:
    """The natural-key columns of ``table``, comma-separated (qualified by ``prefix``)."""
    if prefix is None:
        return sql.SQL(", ").join(sql.Identifier(k) for k in table.key_names)
    return sql.SQL(", ").join(sql.Identifier(prefix, k) for k in table.key_names)


def table_ddl(table: RawTable) -> sql.Composed:
    """``create table if not exists`` of ``table``: its keys, the record and bookkeeping."""
    columns = [
        sql.SQL("{} {} not null").format(sql.Identifier(k.name), sql.SQL(k.pg_type))
        for k in table.keys
    ]
    return sql.SQL(
        "create table if not exists {table} ({columns}, "
        "record jsonb not null, fetched_at timestamptz not null, "
        "first_seen_at timestamptz not null, last_seen_at timestamptz not null, "
        "run_id text not null, lake_document_id text, "
        "constraint {pk} primary key ({keys}))"
    ).format(
        table=table_sql(table),
        columns=sql.SQL(", ").join(columns),
        pk=sql.Identifier(f"{table.name}_pkey"),
        keys=keys_sql(table),
    )


def open_at_fetch_sql(table: RawTable) -> sql.Composed:
    """The predicate "the candle was still open when last fetched", on ``table``'s columns.

    ``last_seen_at - open_time < length``: built from immutable operators only (unlike
    ``open_time + length``, as ``timestamptz + interval`` is not), so it is also the
    predicate of the partial index that finds those candles (see :func:`index_ddl`);
    a query finds them through the index when it says it in these words.
    """
    *_, time_key = table.key_names
    return sql.SQL("last_seen_at - {t} < {len}").format(
        t=sql.Identifier(time_key),
        len=sql.SQL(interval_sql()).format(col=sql.Identifier("interval")),
    )


def still_open_index(table: RawTable) -> sql.Composed | None:
    """The partial index of the candles still open at their last fetch (None: no candles).

    It holds a few rows per series (the candle at each fetch's frontier, until fetched
    again after it closed), so ``cursors.series_states`` finds the oldest one without
    reading the table.
    """
    if "interval" not in table.key_names:
        return None
    return sql.SQL("create index if not exists {name} on {table} ({keys}) where {pred}").format(
        name=sql.Identifier(f"{table.name}_open_at_fetch"),
        table=table_sql(table),
        keys=sql.SQL(", ").join(map(sql.Identifier, table.key_names)),
        pred=open_at_fetch_sql(table),
    )


def index_ddl(table: RawTable) -> list[sql.Composed]:
    """Secondary indexes of a raw table.

    ``last_seen_at`` on candle tables (dbt's candle marts read what a run changed), and
    on tables keyed by interval the candles still open at their last fetch.
    """
    indexes = []
    if table.ohlc:
        indexes.append(
            sql.SQL("create index if not exists {name} on {table} (last_seen_at)").format(
                name=sql.Identifier(f"{table.name}_last_seen_at"), table=table_sql(table)
            )
        )
    still_open = still_open_index(table)
    if still_open is not None:
        indexes.append(still_open)
    return indexes


BOOKKEEPING_DDL = (
    """create table if not exists raw.ingestion_runs (
        run_id text not null, source text not null, endpoint text not null,
        started_at timestamptz not null, finished_at timestamptz,
        status text not null check (status in ('success', 'partial', 'failed')),
        requests int not null default 0, retries int not null default 0,
        fetched int not null default 0, inserted int not null default 0,
        updated int not null default 0, unchanged int not null default 0,
        quarantined int not null default 0, lake_documents int not null default 0,
        error text, notes text,
        primary key (run_id, source, endpoint),
        constraint fetched_adds_up_unless_failed
            check (status = 'failed' or fetched = inserted + updated + unchanged + quarantined))
    """,
    """create table if not exists raw.quarantine (
        quarantine_id bigserial primary key, run_id text not null, source text not null,
        endpoint text not null, reason text not null, record jsonb, raw_text text,
        lake_document_id text, quarantined_at timestamptz not null default now())""",
    "create index if not exists quarantine_by_endpoint on raw.quarantine (source, endpoint)",
    """create table if not exists raw.known_empty (
        source text not null, endpoint text not null, series text not null,
        period_start timestamptz not null, reason text not null, run_id text not null,
        recorded_at timestamptz not null default now(),
        primary key (source, endpoint, series, period_start))""",
    # the resolved asset-to-symbol mapping (ingestion/asset_symbols.py)
    ASSET_SYMBOLS_DDL,
)


# The accounting CHECK of raw.ingestion_runs, for tables made before it existed (or with
# its first form, which refused the row of a failed run whose numbers do not add up, so
# that run was dropped): added NOT VALID, then validated when the old rows allow.
ACCOUNTING_CHECK = "fetched_adds_up_unless_failed"
ACCOUNTING_MIGRATION = f"""
do $$ begin
    if not exists (select from pg_constraint where conname = '{ACCOUNTING_CHECK}'
                   and conrelid = 'raw.ingestion_runs'::regclass) then
        alter table raw.ingestion_runs drop constraint if exists fetched_adds_up;
        alter table raw.ingestion_runs add constraint {ACCOUNTING_CHECK}
            check (status = 'failed' or fetched = inserted + updated + unchanged + quarantined)
            not valid;
    end if;
end $$"""


async def ensure_schema(conn: psycopg.AsyncConnection[Any]) -> None:
    """Create every raw table and the bookkeeping tables if missing (idempotent).

    Older bookkeeping tables are brought up to date (the accounting CHECK of
    ``raw.ingestion_runs``, validated when the old rows allow).
    """
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock(%s)", [DDL_LOCK])
        for table in RAW_TABLES:
            await conn.execute(table_ddl(table))
            for index in index_ddl(table):
                await conn.execute(index)
        for statement in BOOKKEEPING_DDL:
            await conn.execute(statement)
        await conn.execute(ACCOUNTING_MIGRATION)
        cur = await conn.execute(
            "select convalidated from pg_constraint where conname = %s"
            " and conrelid = 'raw.ingestion_runs'::regclass",
            [ACCOUNTING_CHECK],
        )
        row = await cur.fetchone()
        if row is not None and not row[0]:
            try:
                async with conn.transaction():  # a savepoint: old rows may not add up
                    await conn.execute(
                        sql.SQL("alter table raw.ingestion_runs validate constraint {}").format(
                            sql.Identifier(ACCOUNTING_CHECK)
                        )
                    )
            except psycopg.errors.CheckViolation as err:
                logger.warning(
                    "raw.ingestion_runs: older rows do not add up, so %s checks new rows only: %s",
                    ACCOUNTING_CHECK,
                    str(err).strip(),
                )


# A load that wrote this many rows, or this share of the table, leaves the planner's
# statistics stale (autovacuum's analyze comes later, if at all, and a dbt build may run
# first): the loader analyzes the table itself.
# The columns a run analyzes: every one but the record. jsonb statistics are most of an
# analyze's cost (0.6 -> 0.4 s of PostgreSQL's CPU for the benchmark's four tables) and no
# plan reads them: queries filter on the keys and bookkeeping columns (autovacuum's own
# analyze still covers the record).
ANALYZED_COLUMNS = ("fetched_at", "first_seen_at", "last_seen_at", "run_id", "lake_document_id")
ANALYZE_MIN_ROWS = 10_000
ANALYZE_MIN_SHARE = 0.10


async def analyze_if_stale(
    conn: psycopg.AsyncConnection[Any], table: RawTable, rows_written: int
) -> bool:
    """``analyze`` ``table`` when ``rows_written`` made its statistics stale; True if done.

    Stale: at least :data:`ANALYZE_MIN_ROWS` rows, or more than :data:`ANALYZE_MIN_SHARE`
    of the rows the statistics know of (a table never analyzed knows of none).
    """
    if rows_written <= 0:
        return False
    if rows_written < ANALYZE_MIN_ROWS:
        cur = await conn.execute(
            "select reltuples from pg_class where oid = %s::regclass", [table.qualified_name]
        )
        row = await cur.fetchone()
        known_rows = max(float(row[0]), 0.0) if row else 0.0
        if rows_written <= ANALYZE_MIN_SHARE * known_rows:
            return False
    columns = sql.SQL(", ").join(
        sql.Identifier(name) for name in (*table.key_names, *ANALYZED_COLUMNS)
    )
    await conn.execute(sql.SQL("analyze {} ({})").format(table_sql(table), columns))
    return True
