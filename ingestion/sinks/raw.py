"""The ``raw`` schema in PostgreSQL: idempotent DDL and the bulk loader.

A batch is loaded in one transaction: COPY into a temporary table, then one
``INSERT … ON CONFLICT (natural key) DO UPDATE … WHERE record IS DISTINCT FROM excluded.record``
(duplicates inside the batch collapse first, in Python, as if loaded one after the
other: no sort in the server), then ``last_seen_at`` of the unchanged rows moves forward.
Times are the fetch times of the responses (the run's clock, see ``ingestion.clock``):
``last_seen_at`` is when the record was last served, so a candle is closed once
``open_time + interval <= last_seen_at``. The upsert never lets an older fetch overwrite a
newer one (``excluded.fetched_at >= last_seen_at``); such a row counts as unchanged.
Counts are exact: inserted and updated come back from the insert (``xmax = 0`` marks a
fresh row), unchanged is the rest of the batch.
A record PostgreSQL refuses (a NUL character, which jsonb and text cannot hold) does not
sink its batch: the batch is split until the refused rows are found, and those go to
``raw.quarantine`` with PostgreSQL's reason; the rest loads in the same transaction.
Identifiers go through ``psycopg.sql``; values are always parameters.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, NamedTuple

import psycopg
from psycopg import sql

from ingestion.raw_tables import RAW_TABLES, RawTable

logger = logging.getLogger(__name__)

SCHEMA = "raw"
DDL_LOCK = 727_274_001  # advisory lock serialising concurrent DDL of several runs


class RawRow(NamedTuple):
    """One row to load. A named tuple, not a frozen dataclass: one is made per record, and
    a frozen dataclass takes about three times as long to build."""

    key: tuple[Any, ...]
    record_json: str
    fetched_at: datetime
    lake_document_id: str | None


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    source: str
    endpoint: str
    reason: str
    record: Any | None  # None when the body was not JSON
    raw_text: str | None
    lake_document_id: str | None


@dataclass(slots=True)
class LoadCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    problems: list[str] = field(default_factory=list)  # where the database disagrees

    def add(self, other: LoadCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.quarantined += other.quarantined
        self.problems.extend(other.problems)


COPY_CHUNK_ROWS = 10_000
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


_ESCAPED: dict[str, str] = {}  # symbols repeat on every row: escape each once


def _copy_value(value: Any) -> str:
    """One value in COPY's text format (keys are text, timestamptz or date)."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        escaped = _ESCAPED.get(value)
        if escaped is None:
            escaped = value.translate(_COPY_ESCAPES)
            if len(_ESCAPED) < 10_000:
                _ESCAPED[value] = escaped
        return escaped
    if isinstance(value, date):  # datetime is a date too
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)


def copy_text(rows: Sequence[RawRow], first: int, count: int) -> str:
    """Rows ``first`` .. ``first + count`` as COPY text: keys, record, fetched_at, lake id.

    Built by hand because it is the loader's hot loop: JSON text needs only its backslashes
    doubled (json.dumps escapes every control character), and the per-page columns are
    formatted once per page, and so are the key columns before the last (the series:
    symbol, interval), which repeat on every row of a series.
    """
    lines: list[str] = []
    suffix, page = "", None
    series: dict[tuple[Any, ...], str] = {}
    for index in range(first, min(first + count, len(rows))):
        row = rows[index]
        if (row.fetched_at, row.lake_document_id) != page:
            page = (row.fetched_at, row.lake_document_id)
            suffix = (
                "\t" + row.fetched_at.isoformat() + "\t" + _copy_value(row.lake_document_id) + "\n"
            )
        key = row.key
        head = series.get(key[:-1])
        if head is None:
            head = series[key[:-1]] = "".join([_copy_value(v) + "\t" for v in key[:-1]])
        lines.append(
            f"{head}{_copy_value(key[-1])}\t{row.record_json.replace(chr(92), chr(92) * 2)}{suffix}"
        )
    return "".join(lines)


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# \u0000 in JSON text that is an escape, not an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


# The C encoder behind _ENCODER, made once (JSONEncoder.encode makes one on every call).
_C_ENCODE = (
    None
    if c_make_encoder is None
    else c_make_encoder(
        None, _ENCODER.default, encode_basestring, None, ":", ",", False, False, False
    )
)


def dumps(record: Any) -> str:
    """Compact JSON text of a record (NaN and Infinity refused: jsonb cannot hold them)."""
    if _C_ENCODE is None or isinstance(record, str | int | float):
        return _ENCODER.encode(record)
    return "".join(_C_ENCODE(record, 0))


def jsonb_problem(record_json: str) -> str | None:
    """Why jsonb would refuse this JSON text (a NUL character in a string), or None.

    The loader finds any other value PostgreSQL refuses by itself (see ``RawLoader``);
    this is the common case, caught early with a clear reason.
    """
    if "\\u0000" in record_json and _NUL_ESCAPE.search(record_json):
        return "a string holds a NUL character (\\u0000), which jsonb cannot store"
    return None


class LoadError(Exception):
    """A batch could not be loaded (the connection went away, the server refused it)."""


# Before a batch commits: wait for whatever must be durable first (the lake documents the
# rows point at) and return the lake ids to correct, computed id -> stored id.
BeforeCommit = Callable[[], Awaitable[Mapping[str, str]]]


def _table(table: RawTable) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table.name))


def _keys(table: RawTable, prefix: str | None = None) -> sql.Composable:
    if prefix is None:
        return sql.SQL(", ").join(sql.Identifier(k) for k in table.key_names)
    return sql.SQL(", ").join(sql.Identifier(prefix, k) for k in table.key_names)


def table_ddl(table: RawTable) -> sql.Composed:
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
        table=_table(table),
        columns=sql.SQL(", ").join(columns),
        pk=sql.Identifier(f"{table.name}_pkey"),
        keys=_keys(table),
    )


def index_ddl(table: RawTable) -> list[sql.Composed]:
    """Secondary indexes of a raw table: ``last_seen_at`` on candle tables."""
    if not table.is_candles:
        return []
    return [
        sql.SQL("create index if not exists {name} on {table} (last_seen_at)").format(
            name=sql.Identifier(f"{table.name}_last_seen_at"), table=_table(table)
        )
    ]


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
    """Create every raw table and the bookkeeping tables if missing (idempotent), and
    bring older bookkeeping tables up to date."""
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
    await conn.execute(sql.SQL("analyze {}").format(_table(table)))
    return True


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise TypeError(f"not a time: {value!r}")


INTERVAL_SQL = "case {col} when '1h' then interval '1 hour' when '1d' then interval '1 day' end"


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
    """:class:`SeriesState` per series (the key columns before the time), from records
    dated up to ``now`` only: a record from the future never moves a cursor."""
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
        table=_table(table),
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


# --------------------------------------------------------------------------- locks
ENDPOINT_LOCK_CLASS = 727_274_002  # first key of the per-endpoint advisory locks


async def lock_endpoint(
    conn: psycopg.AsyncConnection[Any], name: str, *, timeout_s: float = 1800.0
) -> float | None:
    """Hold the session advisory lock of endpoint ``name`` on ``conn``; the seconds it
    waited for another run to finish, or None when the lock was free.

    Two runs of one endpoint (a schedule, a backfill, ``criptopipe ingest``) never load at
    once: the second waits, then plans from what the first loaded. The lock goes with the
    connection (a killed run frees it). Raises ``psycopg.errors.LockNotAvailable`` after
    ``timeout_s``.
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


class KnownEmpty(NamedTuple):
    series: str  # the series key columns joined by a space, e.g. "BTC-USD 1h"
    period_start: datetime
    reason: str


class RawLoader:
    """Loads batches of one endpoint's records over one connection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], table: RawTable, run_id: str) -> None:
        self.conn = conn
        self.table = table
        self.run_id = run_id
        self.temp = sql.Identifier(f"_load_{table.name}")
        self._temp_ready = False
        self._temp_dirty = False
        self.earliest_fetch: datetime | None = None  # of the rows it loaded: rows_of_run

    async def _ensure_temp(self) -> None:
        if self._temp_ready:
            return
        columns = [
            sql.SQL("{} {}").format(sql.Identifier(k.name), sql.SQL(k.pg_type))
            for k in self.table.keys
        ]
        await self.conn.execute(
            sql.SQL(
                "create temp table if not exists {temp} ({columns}, record jsonb, "
                "fetched_at timestamptz, lake_document_id text) on commit delete rows"
            ).format(temp=self.temp, columns=sql.SQL(", ").join(columns))
        )
        self._temp_ready = True

    async def load(
        self,
        rows: Sequence[RawRow],
        rejected: Sequence[QuarantineRow] = (),
        *,
        before_commit: BeforeCommit | None = None,
    ) -> LoadCounts:
        """Upsert ``rows`` and quarantine ``rejected`` in one transaction; exact counts.

        ``before_commit`` runs inside the transaction, after the writes and before the
        commit: a failure there rolls the whole batch back.
        """
        counts = LoadCounts()
        try:
            await self._load(rows, list(rejected), counts, before_commit)
        except BaseException:
            self._temp_ready = False  # a rolled-back transaction takes the temp table along
            raise
        return counts

    async def _load(
        self,
        rows: Sequence[RawRow],
        rejected: list[QuarantineRow],
        counts: LoadCounts,
        before_commit: BeforeCommit | None,
    ) -> None:
        async with self.conn.transaction():
            self._temp_dirty = False
            if rows:
                await self._ensure_temp()
                await self._upsert_isolating_refused(rows, rejected, counts)
            if before_commit is not None:
                moved = await before_commit()
                if moved:
                    await self._repoint(moved)
                    rejected = [_repointed(item, moved) for item in rejected]
            if rejected:
                counts.quarantined = await self.quarantine(rejected)

    async def _upsert_isolating_refused(
        self,
        rows: Sequence[RawRow],
        rejected: list[QuarantineRow],
        counts: LoadCounts,
    ) -> None:
        """Upsert under a savepoint; when PostgreSQL refuses a value, halve and retry."""
        try:
            async with self.conn.transaction():  # a savepoint
                await self._upsert(rows, counts)
        except psycopg.errors.DataError as err:
            if len(rows) == 1:
                row = rows[0]
                rejected.append(
                    QuarantineRow(
                        self.table.source,
                        self.table.endpoint,
                        f"PostgreSQL refused the record: {err.diag.message_primary or err}",
                        None,
                        row.record_json,
                        row.lake_document_id,
                    )
                )
                return
            middle = len(rows) // 2
            await self._upsert_isolating_refused(rows[:middle], rejected, counts)
            await self._upsert_isolating_refused(rows[middle:], rejected, counts)

    async def _upsert(self, rows: Sequence[RawRow], counts: LoadCounts) -> None:
        names = sql.SQL(", ").join(
            [
                *(sql.Identifier(k) for k in self.table.key_names),
                sql.Identifier("record"),
                sql.Identifier("fetched_at"),
                sql.Identifier("lake_document_id"),
            ]
        )
        unique = _last_per_key(rows)
        async with self.conn.cursor() as cur:
            if self._temp_dirty:  # an earlier part of this batch is still in there
                await cur.execute(sql.SQL("delete from {}").format(self.temp))
            copy_sql = sql.SQL("copy {temp} ({names}) from stdin").format(
                temp=self.temp, names=names
            )
            async with cur.copy(copy_sql) as copy:
                for first in range(0, len(unique), COPY_CHUNK_ROWS):
                    await copy.write(copy_text(unique, first, COPY_CHUNK_ROWS))
            await cur.execute(self._upsert_sql(), {"run_id": self.run_id})
            fetched = await cur.fetchone()
            assert fetched is not None
            inserted, updated, existing = (int(v) for v in fetched)
            if inserted + updated < len(unique):  # rows seen again: move their last_seen_at
                await cur.execute(self._touch_sql())
            self._temp_dirty = True
        # Every number comes from the statement: the rows it inserted and updated, and the
        # rows of the batch's keys it found already there (those it did not update are
        # unchanged), plus the records a later one of the same key replaced in this batch.
        counts.inserted += inserted
        counts.updated += updated
        counts.unchanged += max(existing - updated, 0) + len(rows) - len(unique)
        self.earliest_fetch = min(
            self.earliest_fetch or unique[0].fetched_at, min(row.fetched_at for row in unique)
        )
        if inserted + existing != len(unique) or updated > existing:
            counts.problems.append(
                f"{self.table.qualified_name}: {len(unique)} distinct records went in, but "
                f"the statement inserted {inserted} and found {existing} already there "
                f"({updated} of them updated)"
            )

    async def _repoint(self, moved: Mapping[str, str]) -> None:
        """Rows of this batch name a lake document that an older lake holds under another
        ``_id`` (a server-made ObjectId): point them at that one."""
        await self.conn.execute(
            sql.SQL(
                "update {table} as t set lake_document_id = m.stored"
                " from unnest(%s::text[], %s::text[]) as m (computed, stored)"
                " where t.lake_document_id = m.computed and t.run_id = %s"
            ).format(table=_table(self.table)),
            [list(moved), list(moved.values()), self.run_id],
        )

    async def quarantine(self, rejected: Sequence[QuarantineRow]) -> int:
        """COPY ``rejected`` into ``raw.quarantine``; the rows the server says it took."""
        async with self.conn.cursor() as cur:
            async with cur.copy(
                "copy raw.quarantine (run_id, source, endpoint, reason, record, raw_text, "
                "lake_document_id) from stdin"
            ) as copy:
                for item in rejected:
                    record_json = None if item.record is None else _safe_dumps(item.record)
                    await copy.write_row(
                        (
                            self.run_id,
                            item.source,
                            item.endpoint,
                            item.reason,
                            record_json,
                            _strip_nul(item.raw_text),
                            item.lake_document_id,
                        )
                    )
            return max(cur.rowcount, 0)

    def _upsert_sql(self) -> sql.Composed:
        keys = _keys(self.table)
        return sql.SQL(
            "with written as ("
            " insert into {table} as t ({keys}, record, fetched_at, first_seen_at,"
            "  last_seen_at, run_id, lake_document_id)"
            " select {keys}, record, fetched_at, fetched_at, fetched_at, %(run_id)s,"
            "  lake_document_id from {temp}"
            " on conflict ({keys}) do update set record = excluded.record,"
            "  fetched_at = excluded.fetched_at, last_seen_at = excluded.last_seen_at,"
            "  run_id = excluded.run_id, lake_document_id = excluded.lake_document_id"
            " where t.record is distinct from excluded.record"
            # An older fetch (a slower concurrent run, a replay) never overwrites a newer one.
            "  and excluded.fetched_at >= t.last_seen_at"
            " returning (xmax = 0) as is_insert"
            ") select count(*) filter (where is_insert), count(*) filter (where not is_insert),"
            # The statement's snapshot: the rows that were there before it wrote.
            " (select count(*) from {temp} as s join {table} as e on {match})"
            " from written"
        ).format(
            keys=keys,
            temp=self.temp,
            table=_table(self.table),
            match=sql.SQL(" and ").join(
                sql.SQL("e.{k} = s.{k}").format(k=sql.Identifier(k)) for k in self.table.key_names
            ),
        )

    def _touch_sql(self) -> sql.Composed:
        match = sql.SQL(" and ").join(
            sql.SQL("t.{k} = s.{k}").format(k=sql.Identifier(k)) for k in self.table.key_names
        )
        return sql.SQL(
            "update {table} as t set last_seen_at = s.fetched_at from {temp} as s"
            " where {match} and t.last_seen_at < s.fetched_at"
        ).format(table=_table(self.table), temp=self.temp, match=match)


def _last_per_key(rows: Sequence[RawRow]) -> Sequence[RawRow]:
    """One row per natural key, as if the rows were loaded one after the other: a later
    row replaces an earlier one only when its record differs, so an unchanged record keeps
    the fetch (and lake document) that first brought it, as it does across batches. A
    replay of the lake, whose batches hold many fetches, then rebuilds raw.* exactly."""
    by_key = {row.key: row for row in rows}
    if len(by_key) == len(rows):  # the usual batch: no key twice
        return rows
    by_key.clear()
    for row in rows:
        kept = by_key.get(row.key)
        if kept is None or kept.record_json != row.record_json:
            by_key[row.key] = row
    return list(by_key.values())


def _repointed(item: QuarantineRow, moved: Mapping[str, str]) -> QuarantineRow:
    if item.lake_document_id is None or item.lake_document_id not in moved:
        return item
    return QuarantineRow(
        item.source,
        item.endpoint,
        item.reason,
        item.record,
        item.raw_text,
        moved[item.lake_document_id],
    )


def _safe_dumps(record: Any) -> str | None:
    try:
        return _strip_nul(dumps(record))
    except (TypeError, ValueError, RecursionError):
        return None


def _strip_nul(text: str | None) -> str | None:
    # PostgreSQL text and jsonb cannot hold NUL characters.
    return None if text is None else text.replace("\x00", "\ufffd").replace("\\u0000", "\\ufffd")


async def rows_of_run(
    conn: psycopg.AsyncConnection[Any], table: RawTable, run_id: str, since: datetime | None
) -> tuple[int, int]:
    """Rows of ``table`` whose last write was run ``run_id``, and its quarantined records.

    Every row a run writes gets its fetch time as ``last_seen_at``, no earlier than the
    earliest fetch the run loaded (``since``), which lets candle tables answer from their
    ``last_seen_at`` index."""
    cur = await conn.execute(
        sql.SQL(
            "select (select count(*) from {table} where last_seen_at >= %(since)s"
            " and run_id = %(run_id)s), (select count(*) from raw.quarantine"
            " where source = %(source)s and endpoint = %(endpoint)s"
            " and run_id = %(run_id)s)"
        ).format(table=_table(table)),
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


async def record_run(conn: psycopg.AsyncConnection[Any], row: dict[str, Any]) -> None:
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
