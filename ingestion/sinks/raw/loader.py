"""The bulk loader of ``raw.*``: one batch of one endpoint's records per transaction.

A batch none of whose series has a row at or after its oldest row in the batch (a
backfill into an empty range, the new candles of an incremental run: one index probe per
series says so) goes in by COPY alone, as a bulk load should. Any other batch is loaded in
one transaction: COPY into a temporary table, then one
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

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import sql

from ingestion.connectors.base import KEY_SERIES, KEY_TIME
from ingestion.raw_tables import RawTable
from ingestion.sinks.raw.copy_format import (
    COPY_CHUNK_ROWS,
    binary_types,
    copy_text,
    fits_binary,
    safe_dumps,
    strip_nul,
    write_binary,
)
from ingestion.sinks.raw.rows import LoadCounts, QuarantineRow, RawRow
from ingestion.sinks.raw.schema import keys_sql, table_sql

# A batch of more series than this is upserted without probing (snapshot endpoints, whose
# "series" are one per record): the probe pays for itself on candle pages.
MAX_PROBED_SERIES = 200
_ROW_KEY = itemgetter(0)  # RawRow fields, for map()
_ROW_FETCHED_AT = itemgetter(2)
_FIRST, _SECOND = itemgetter(0), itemgetter(1)


# Before a batch commits: wait for whatever must be durable first (the lake documents the
# rows point at) and return the lake ids to correct, computed id -> stored id.
BeforeCommit = Callable[[], Awaitable[Mapping[str, str]]]


class RawLoader:
    """Loads batches of one endpoint's records over one connection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], table: RawTable, run_id: str) -> None:
        """Load into ``table`` over ``conn``, naming ``run_id`` on every row written.

        Args:
            conn: The endpoint's connection (its temporary table lives there).
            table: The raw table.
            run_id: The run the rows are written by.
        """
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
        unique = _last_per_key(rows)
        if await self._nothing_at_or_after(unique):
            try:
                async with self.conn.transaction():  # a savepoint: fall back on a conflict
                    await self._copy_new(unique, counts, len(rows))
                return
            except psycopg.errors.UniqueViolation:
                pass  # a row came in meanwhile (another writer): the upsert sorts it out
        names = sql.SQL(", ").join(
            [
                *(sql.Identifier(k) for k in self.table.key_names),
                sql.Identifier("record"),
                sql.Identifier("fetched_at"),
                sql.Identifier("lake_document_id"),
            ]
        )
        async with self.conn.cursor() as cur:
            if self._temp_dirty:  # an earlier part of this batch is still in there
                await cur.execute(sql.SQL("delete from {}").format(self.temp))
            await self._copy(cur, self.temp, names, unique)
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
            self.earliest_fetch or unique[0].fetched_at, min(map(_ROW_FETCHED_AT, unique))
        )
        if inserted + existing != len(unique) or updated > existing:
            counts.problems.append(
                f"{self.table.qualified_name}: {len(unique)} distinct records went in, but "
                f"the statement inserted {inserted} and found {existing} already there "
                f"({updated} of them updated)"
            )

    async def _nothing_at_or_after(self, rows: Sequence[RawRow]) -> bool:
        """Whether no series of the batch has a row in the table at or after its oldest batch row.

        Then none of the rows can conflict (a backfill into an empty range, the new candles of an
        incremental run), and they go in by COPY alone. One index probe per series (the primary
        key's order).
        """
        *series_keys, time_key = self.table.keys
        oldest: dict[tuple[Any, ...], Any] = {}
        keys = list(map(_ROW_KEY, rows))
        # A batch is a run of pages, each of one series mostly: the oldest row of each run
        # of one series found in C (groupby, min), then of each series.
        for head, run in groupby(
            zip(map(KEY_SERIES, keys), map(KEY_TIME, keys), strict=True), _FIRST
        ):
            at = min(map(_SECOND, run))
            if head not in oldest or at < oldest[head]:
                oldest[head] = at
        if len(oldest) > MAX_PROBED_SERIES:
            return False
        columns = [sql.Identifier(k.name) for k in series_keys]
        arrays = sql.SQL(", ").join(
            sql.SQL("%s::{}[]").format(sql.SQL(k.pg_type)) for k in (*series_keys, time_key)
        )
        names = sql.SQL(", ").join(
            [sql.Identifier(f"b_{i}") for i in range(len(series_keys))] + [sql.Identifier("b_t")]
        )
        match = sql.SQL("").join(
            sql.SQL(" and t.{c} = b.{b}").format(c=c, b=sql.Identifier(f"b_{i}"))
            for i, c in enumerate(columns)
        )
        # The newest row of each series: max() over the primary key's prefix is one index
        # probe, whatever the planner knows of the table (``exists … >= t`` may become a
        # sequential scan, which reads the whole table when, as usual, nothing is found).
        query = sql.SQL(
            "select count(*) = 0 from unnest({arrays}) as b ({names}) cross join lateral"
            " (select max(t.{time}) as newest from {table} as t where true{match}) as found"
            " where found.newest >= b.b_t"
        ).format(
            arrays=arrays,
            names=names,
            table=table_sql(self.table),
            time=sql.Identifier(time_key.name),
            match=match,
        )
        params = [[head[i] for head in oldest] for i in range(len(series_keys))]
        params.append(list(oldest.values()))
        cur = await self.conn.execute(query, params)
        found = await cur.fetchone()
        return found is not None and bool(found[0])

    async def _copy_new(self, unique: Sequence[RawRow], counts: LoadCounts, total: int) -> None:
        """COPY rows none of which the table holds straight into it: all inserted."""
        names = sql.SQL(", ").join(
            [
                *(sql.Identifier(k) for k in self.table.key_names),
                *map(
                    sql.Identifier,
                    ("record", "fetched_at", "first_seen_at", "last_seen_at", "run_id"),
                ),
                sql.Identifier("lake_document_id"),
            ]
        )
        async with self.conn.cursor() as cur:
            await self._copy(cur, table_sql(self.table), names, unique, self.run_id)
            copied = cur.rowcount
        counts.inserted += copied  # what the server says it took, not what was sent
        counts.unchanged += total - len(unique)  # replaced by a later one of the same key
        self.earliest_fetch = min(
            self.earliest_fetch or unique[0].fetched_at, min(map(_ROW_FETCHED_AT, unique))
        )
        if copied != len(unique):
            counts.problems.append(
                f"{self.table.qualified_name}: {len(unique)} distinct records went in, but "
                f"the statement inserted {copied} (COPY of rows new to the table)"
            )

    async def _copy(
        self,
        cur: psycopg.AsyncCursor[Any],
        target: sql.Composable,
        names: sql.Composable,
        rows: Sequence[RawRow],
        run_id: str | None = None,
    ) -> None:
        """COPY ``rows`` into the ``names`` columns of ``target``: binary where it fits."""
        key_types = [k.pg_type for k in self.table.keys]
        if fits_binary(rows, key_types):
            copy_sql = sql.SQL("copy {target} ({names}) from stdin (format binary)").format(
                target=target, names=names
            )
            async with cur.copy(copy_sql) as copy:
                copy.set_types(binary_types(key_types, run_id))
                await write_binary(copy, rows, run_id)
            return
        copy_sql = sql.SQL("copy {target} ({names}) from stdin").format(target=target, names=names)
        async with cur.copy(copy_sql) as copy:
            for first in range(0, len(rows), COPY_CHUNK_ROWS):
                await copy.write(copy_text(rows, first, COPY_CHUNK_ROWS, run_id))

    async def _repoint(self, moved: Mapping[str, str]) -> None:
        """Point this batch's rows at the ``_id`` an older lake holds their document under.

        An older lake holds some documents under a server-made ObjectId, not the computed id.
        """
        await self.conn.execute(
            sql.SQL(
                "update {table} as t set lake_document_id = m.stored"
                " from unnest(%s::text[], %s::text[]) as m (computed, stored)"
                " where t.lake_document_id = m.computed and t.run_id = %s"
            ).format(table=table_sql(self.table)),
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
                    record_json = None if item.record is None else safe_dumps(item.record)
                    await copy.write_row(
                        (
                            self.run_id,
                            item.source,
                            item.endpoint,
                            item.reason,
                            record_json,
                            strip_nul(item.raw_text),
                            item.lake_document_id,
                        )
                    )
            return max(cur.rowcount, 0)

    def _upsert_sql(self) -> sql.Composed:
        keys = keys_sql(self.table)
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
            table=table_sql(self.table),
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
        ).format(table=table_sql(self.table), temp=self.temp, match=match)


def _last_per_key(rows: Sequence[RawRow]) -> Sequence[RawRow]:
    """One row per natural key, as if the rows were loaded one after the other.

    A later row replaces an earlier one only when its record differs, so an unchanged
    record keeps the fetch (and lake document) that first brought it, as it does across
    batches. A replay of the lake, whose batches hold many fetches, then rebuilds raw.*
    exactly.
    """
    if len(set(map(_ROW_KEY, rows))) == len(rows):  # the usual batch: no key twice
        return rows
    by_key: dict[tuple[Any, ...], RawRow] = {}
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
