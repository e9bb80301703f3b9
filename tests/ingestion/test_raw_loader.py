"""The raw loader on the real PostgreSQL: DDL, exact counts, in-batch duplicates, escaping."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import sql

from ingestion.connectors.registry import get_endpoint
from ingestion.raw_tables import RAW_TABLES, get_table
from ingestion.sinks.raw.copy_format import dumps, fits_binary
from ingestion.sinks.raw.cursors import SeriesState, cursors, series_states, series_states_sql
from ingestion.sinks.raw.loader import RawLoader
from ingestion.sinks.raw.rows import QuarantineRow, RawRow
from ingestion.sinks.raw.schema import (
    ANALYZED_COLUMNS,
    analyze_if_stale,
    ensure_schema,
    table_ddl,
    table_sql,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _row(
    symbol: str,
    hour: int,
    record: object,
    lake: str = "a" * 24,
    fetched_at: datetime = T0 + timedelta(days=1),
) -> RawRow:
    return RawRow((symbol, "1h", T0 + timedelta(hours=hour)), dumps(record), fetched_at, lake)


async def test_schema_is_idempotent_and_follows_the_contract(
    loader_dsn: str, clean_stores: None
) -> None:
    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await ensure_schema(conn)
        await ensure_schema(conn)
        for table in RAW_TABLES:
            cur = await conn.execute(
                "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid"
                " and a.attnum = any(i.indkey) where i.indrelid = %s::regclass"
                " and i.indisprimary",
                [table.qualified_name],
            )
            assert {r[0] for r in await cur.fetchall()} == set(table.key_names)
        cur = await conn.execute(
            "select column_name from information_schema.columns where table_schema = 'raw'"
            " and table_name = 'ingestion_runs' order by ordinal_position"
        )
        assert [r[0] for r in await cur.fetchall()] == [
            "run_id",
            "source",
            "endpoint",
            "started_at",
            "finished_at",
            "status",
            "requests",
            "retries",
            "fetched",
            "inserted",
            "updated",
            "unchanged",
            "quarantined",
            "lake_documents",
            "error",
            "notes",
        ]


async def test_counts_are_exact_and_duplicates_in_a_batch_collapse_last_wins(
    loader_dsn: str, clean_stores: None
) -> None:
    table = get_table("binance", "klines")
    tricky = {"text": 'tab\there "quoted" back\\slash\nnew line é ✓', "n": 1}
    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await ensure_schema(conn)
        loader = RawLoader(conn, table, "run-1")
        first = await loader.load(
            [_row("BTCUSDT", 0, ["a"]), _row("BTCUSDT", 1, tricky), _row("BTCUSDT", 0, ["b"])]
        )
        assert (first.inserted, first.updated, first.unchanged) == (2, 0, 1)
        later = T0 + timedelta(days=2)
        second = await RawLoader(conn, table, "run-2").load(
            [
                _row("BTCUSDT", 0, ["b"], fetched_at=later),
                _row("BTCUSDT", 1, {**tricky, "n": 2}, fetched_at=later),
                _row("BTCUSDT", 2, ["c"], fetched_at=later),
            ],
            [QuarantineRow("binance", "klines", "bad", {"x": 1}, None, None)],
        )
        assert (second.inserted, second.updated, second.unchanged, second.quarantined) == (
            1,
            1,
            1,
            1,
        )
        cur = await conn.execute(
            "select open_time, record, run_id, first_seen_at < last_seen_at"
            " from raw.binance__klines order by open_time"
        )
        rows = await cur.fetchall()
    assert [r[1] for r in rows] == [["b"], {**tricky, "n": 2}, ["c"]]
    assert [r[2] for r in rows] == ["run-1", "run-2", "run-2"]  # unchanged keeps its writer
    assert [r[3] for r in rows] == [True, True, False]  # but was seen again


async def test_an_unchanged_record_later_in_a_batch_keeps_the_first_fetch(
    loader_dsn: str, clean_stores: None
) -> None:
    # A batch that holds two fetches of one record (a replay of the lake does) ends as
    # loading them one batch each would: the unchanged second fetch moves nothing, a
    # changed third one wins.
    table = get_table("binance", "klines")

    def fetched(symbol: str, hour: int, record: object, minute: int) -> RawRow:
        return RawRow(
            (symbol, "1h", T0 + timedelta(hours=hour)),
            dumps(record),
            T0 + timedelta(minutes=minute),
            f"doc-{minute}",
        )

    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await ensure_schema(conn)
        counts = await RawLoader(conn, table, "run-1").load(
            [
                fetched("ETHUSDT", 0, ["same"], 1),
                fetched("ETHUSDT", 0, ["same"], 2),
                fetched("ETHUSDT", 1, ["old"], 1),
                fetched("ETHUSDT", 1, ["old"], 2),
                fetched("ETHUSDT", 1, ["new"], 3),
            ]
        )
        cur = await conn.execute(
            "select record, fetched_at, lake_document_id from raw.binance__klines"
            " where symbol = 'ETHUSDT' order by open_time"
        )
        rows = await cur.fetchall()
    assert (counts.inserted, counts.unchanged) == (2, 3)
    assert rows == [
        (["same"], T0 + timedelta(minutes=1), "doc-1"),
        (["new"], T0 + timedelta(minutes=3), "doc-3"),
    ]


async def test_cursors_resume_at_the_oldest_candle_open_at_its_last_fetch(
    loader_dsn: str, clean_stores: None
) -> None:
    """A candle fetched before it closed is fetched again; a closed series resumes after
    its newest candle; a record from the future moves no cursor."""
    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await ensure_schema(conn)
        table = get_table("binance", "klines")
        at_0530 = T0 + timedelta(hours=5, minutes=30)
        await RawLoader(conn, table, "r").load(
            [
                _row("BTCUSDT", 3, [1], fetched_at=at_0530),
                _row("BTCUSDT", 4, [1], fetched_at=at_0530),
                _row("BTCUSDT", 5, [1], fetched_at=at_0530),  # open at 05:30
                _row("ETHUSDT", 3, [1], fetched_at=at_0530),  # closed at 04:00
                _row("ETHUSDT", 90, [1], fetched_at=at_0530),  # dated days ahead: bad data
            ]
        )
        states = await series_states(conn, table, at_0530)
        assert states[("BTCUSDT", "1h")] == SeriesState(
            T0 + timedelta(hours=5), T0 + timedelta(hours=5)
        )
        assert states[("ETHUSDT", "1h")] == SeriesState(T0 + timedelta(hours=4), None)
        # Fetched again after it closed: the series moves on.
        await RawLoader(conn, table, "r2").load(
            [_row("BTCUSDT", 5, [1], fetched_at=T0 + timedelta(hours=6, minutes=1))]
        )
        assert await cursors(conn, table, T0 + timedelta(hours=7)) == {
            ("BTCUSDT", "1h"): T0 + timedelta(hours=6),
            ("ETHUSDT", "1h"): T0 + timedelta(hours=4),
        }
        assert await cursors(conn, get_table("fear_greed", "fng"), at_0530) == {}


def _plan_nodes(node: dict[str, object]) -> list[dict[str, object]]:
    """Every node of an ``explain (format json)`` plan."""
    nodes = [node]
    for child in node.get("Plans", []):  # type: ignore[attr-defined]
        nodes += _plan_nodes(child)
    return nodes


async def _bulk_candles(conn: psycopg.AsyncConnection[object], now: datetime) -> None:
    """240,000 candles in four series, with a few oddities (see the comments), analyzed."""
    table = get_table("binance", "klines")
    await ensure_schema(conn)
    # Four series of 60,000 candles, each fetched a minute after it closed ...
    await conn.execute(
        "insert into raw.binance__klines (symbol, interval, open_time, record, fetched_at,"
        " first_seen_at, last_seen_at, run_id)"
        " select sym, iv, %(t0)s + g * len, '[1]', %(t0)s + (g + 1) * len + interval '1m',"
        " %(t0)s, %(t0)s + (g + 1) * len + interval '1m', 'bulk'"
        " from (values ('BTCUSDT', '1m', interval '1 minute'), ('BTCUSDT', '1h', interval"
        " '1 hour'), ('ETHUSDT', '1m', interval '1 minute'), ('SOLUSDT', '1d', interval"
        " '1 day')) s (sym, iv, len), generate_series(0, 59999) g",
        {"t0": T0},
    )
    # ... but: a BTC minute fetched while open long ago and never since, the frontier
    # minute open at its fetch, ETH's newest minutes dated after the clock, and a series
    # with future rows only.
    await conn.execute(
        "update raw.binance__klines set last_seen_at = open_time + interval '10 seconds'"
        " where symbol = 'BTCUSDT' and interval = '1m'"
        " and open_time in (%(t0)s + interval '100 minutes',"
        " %(t0)s + interval '59999 minutes')",
        {"t0": T0},
    )
    await conn.execute(
        "delete from raw.binance__klines where symbol = 'ETHUSDT'"
        " and open_time > %(t0)s + interval '30000 minutes'",
        {"t0": T0},
    )
    await RawLoader(conn, table, "future").load(
        [
            RawRow(("ETHUSDT", "1m", now + timedelta(days=1)), dumps([2]), now, "f" * 24),
            RawRow(("XRPUSDT", "1h", now + timedelta(days=1)), dumps([2]), now, "f" * 24),
        ]
    )
    await conn.execute("analyze raw.binance__klines")


async def test_series_states_read_indexes_only_and_agree_with_a_scan_of_every_row(
    loader_dsn: str, clean_stores: None
) -> None:
    """On a table of 240,000 candles the plan reads no table sequentially (its cost is
    O(series), not O(rows)), and its answer is a group-by over every row's."""
    table = get_table("binance", "klines")
    now = T0 + timedelta(days=50)
    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await _bulk_candles(conn, now)

        cur = await conn.execute(
            sql.SQL("explain (format json) {}").format(series_states_sql(table)), {"now": now}
        )
        plan = (await cur.fetchone())[0][0]["Plan"]  # type: ignore[index]
        nodes = _plan_nodes(plan)
        assert not [n for n in nodes if n["Node Type"] == "Seq Scan"], plan
        assert "binance__klines_open_at_fetch" in {n.get("Index Name") for n in nodes}

        states = await series_states(conn, table, now)
        cur = await conn.execute(
            "select symbol, t.interval, max(open_time + len),"
            " min(open_time) filter (where open_time + len > last_seen_at)"
            " from raw.binance__klines t join (values ('1m', interval '1 minute'),"
            " ('1h', interval '1 hour'), ('1d', interval '1 day')) l (iv, len) on iv = t.interval"
            " where open_time <= %s group by 1, 2",
            [now],
        )
        every_row = {
            (sym, iv): SeriesState(opened or newest, opened)
            for sym, iv, newest, opened in await cur.fetchall()
        }
    assert states == every_row
    assert states[("BTCUSDT", "1m")] == SeriesState(
        T0 + timedelta(minutes=100), T0 + timedelta(minutes=100)
    )
    assert states[("ETHUSDT", "1m")] == SeriesState(T0 + timedelta(minutes=30001), None)
    assert ("XRPUSDT", "1h") not in states
    assert set(states) == {
        ("BTCUSDT", "1m"),
        ("BTCUSDT", "1h"),
        ("ETHUSDT", "1m"),
        ("SOLUSDT", "1d"),
    }


async def test_the_gap_query_reads_its_window_not_the_table(
    loader_dsn: str, clean_stores: None
) -> None:
    """The gap sensor's query on 240,000 candles reads no table sequentially; it finds the
    minute fetched while open and a minute taken out of its window."""
    from orchestration.automation import GapTable, candle_gaps_sql, find_gaps

    spec = get_endpoint("binance", "klines")
    now = T0 + timedelta(minutes=30000, seconds=30)
    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await _bulk_candles(conn, now)
        params = {
            "now": now,
            "since": now - timedelta(days=3),
            "grace": timedelta(minutes=10),
            "source": "binance",
            "endpoint": "klines",
        }
        cur = await conn.execute(
            sql.SQL("explain (format json) {}").format(candle_gaps_sql(spec.raw_table)), params
        )
        plan = (await cur.fetchone())[0][0]["Plan"]  # type: ignore[index]
        seq_scans = [
            n
            for n in _plan_nodes(plan)
            if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "binance__klines"
        ]
        assert not seq_scans, plan
        table = GapTable(spec, "candles")
        with psycopg.connect(loader_dsn) as sync_conn:  # BTC's minute fetched while open
            assert find_gaps(sync_conn, table, now) == [T0.date()]
        hole = T0 + timedelta(minutes=28000)
        await conn.execute(
            "delete from raw.binance__klines where symbol = 'ETHUSDT' and open_time = %s",
            [hole],
        )
    with psycopg.connect(loader_dsn) as sync_conn:
        assert find_gaps(sync_conn, table, now) == [T0.date(), hole.date()]


async def test_an_older_fetch_never_overwrites_a_newer_one(
    loader_dsn: str, clean_stores: None
) -> None:
    table = get_table("binance", "klines")
    open_at, closed_at = T0 + timedelta(minutes=30), T0 + timedelta(hours=1, minutes=5)
    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await ensure_schema(conn)
        await RawLoader(conn, table, "fast").load(
            [_row("BTCUSDT", 0, ["final"], fetched_at=closed_at)]
        )
        # A slower run fetched the candle while it was open and loads it afterwards.
        stale = await RawLoader(conn, table, "slow").load(
            [_row("BTCUSDT", 0, ["open"], fetched_at=open_at)]
        )
        assert (stale.inserted, stale.updated, stale.unchanged) == (0, 0, 1)
        cur = await conn.execute(
            "select record, fetched_at, last_seen_at, run_id from raw.binance__klines"
        )
        assert await cur.fetchall() == [(["final"], closed_at, closed_at, "fast")]
        # A newer fetch still wins.
        newer = await RawLoader(conn, table, "newer").load(
            [_row("BTCUSDT", 0, ["corrected"], fetched_at=closed_at + timedelta(hours=1))]
        )
        assert newer.updated == 1


async def test_rows_postgresql_refuses_are_quarantined_and_the_rest_of_the_batch_loads(
    loader_dsn: str, clean_stores: None
) -> None:
    table = get_table("binance", "klines")
    nul_in_json = RawRow(
        ("BTCUSDT", "1h", T0 + timedelta(hours=3)), '["nul \\u0000 here"]', T0, "b" * 32
    )
    nul_in_key = RawRow(("BTC\x00USDT", "1h", T0), '["fine"]', T0, "c" * 32)
    good = [_row("BTCUSDT", hour, [hour]) for hour in range(3)]
    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await ensure_schema(conn)
        counts = await RawLoader(conn, table, "run-1").load(
            [good[0], nul_in_json, good[1], nul_in_key, good[2]]
        )
        assert (counts.inserted, counts.quarantined) == (3, 2)
        cur = await conn.execute("select record from raw.binance__klines order by open_time")
        assert [r[0] for r in await cur.fetchall()] == [[0], [1], [2]]
        cur = await conn.execute(
            "select reason, raw_text, lake_document_id from raw.quarantine order by 3"
        )
        refused = await cur.fetchall()
    assert [r[2] for r in refused] == ["b" * 32, "c" * 32]
    assert all(r[0].startswith("PostgreSQL refused the record: ") for r in refused)
    assert "\\ufffd here" in refused[0][1]  # kept, with the NUL made visible


async def test_a_failing_before_commit_rolls_the_whole_batch_back(
    loader_dsn: str, clean_stores: None
) -> None:
    async def lake_write_failed() -> dict[str, str]:
        raise ConnectionError("lake unreachable")

    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await ensure_schema(conn)
        loader = RawLoader(conn, get_table("binance", "klines"), "run-1")
        with pytest.raises(ConnectionError):
            await loader.load(
                [_row("BTCUSDT", 0, [0])],
                [QuarantineRow("binance", "klines", "bad", {}, None, None)],
                before_commit=lake_write_failed,
            )
        cur = await conn.execute(
            "select (select count(*) from raw.binance__klines),"
            " (select count(*) from raw.quarantine)"
        )
        assert await cur.fetchone() == (0, 0)
        # The loader is usable again afterwards.
        assert (await loader.load([_row("BTCUSDT", 0, [0])])).inserted == 1


async def test_candle_tables_are_indexed_on_last_seen_at(
    loader_dsn: str, clean_stores: None
) -> None:
    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await ensure_schema(conn)
        await ensure_schema(conn)  # idempotent
        cur = await conn.execute(
            "select tablename, indexdef from pg_indexes where schemaname = 'raw'"
            " and indexdef like '%%(last_seen_at)'"
        )
        indexed = {name: definition for name, definition in await cur.fetchall()}
    candles = {t.name for t in RAW_TABLES if t.ohlc}
    assert candles == {
        "binance__klines",
        "kraken__ohlc",
        "coinbase__candles",
        "mercadobitcoin__candles",
    }
    assert set(indexed) == candles
    assert all("btree" in definition for definition in indexed.values())


async def _last_analyze(conn: psycopg.AsyncConnection[tuple[object, ...]], table: str) -> object:
    cur = await conn.execute(
        "select last_analyze from pg_stat_user_tables where schemaname = 'raw' and relname = %s",
        [table],
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def test_a_load_that_changed_much_of_a_table_analyzes_it(
    loader_dsn: str, clean_stores: None
) -> None:
    table = get_table("binance", "klines")
    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await ensure_schema(conn)
        loader = RawLoader(conn, table, "run-1")
        await loader.load([_row("BTCUSDT", h, [h]) for h in range(1000)])
        # Statistics that know nothing of the table are stale whatever was written.
        assert await analyze_if_stale(conn, table, 1000)
        analyzed = await _last_analyze(conn, table.name)
        assert analyzed is not None
        cur = await conn.execute(
            "select reltuples from pg_class where oid = %s::regclass", [table.qualified_name]
        )
        assert await cur.fetchone() == (1000.0,)
        # 5% of the table: left to autovacuum.
        await loader.load([_row("BTCUSDT", 1000 + h, [h]) for h in range(50)])
        assert not await analyze_if_stale(conn, table, 50)
        assert await _last_analyze(conn, table.name) == analyzed
        # 20%: analyzed.
        await loader.load([_row("ETHUSDT", h, [h]) for h in range(200)])
        assert await analyze_if_stale(conn, table, 200)
        assert await _last_analyze(conn, table.name) > analyzed  # type: ignore[operator]
        cur = await conn.execute(
            "select reltuples from pg_class where oid = %s::regclass", [table.qualified_name]
        )
        assert await cur.fetchone() == (1250.0,)


async def test_new_rows_go_in_by_copy_alone_and_a_conflict_falls_back_to_the_upsert(
    loader_dsn: str, clean_stores: None
) -> None:
    table = get_table("binance", "klines")
    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await ensure_schema(conn)
        loader = RawLoader(conn, table, "run-1")
        first = await loader.load([_row("BTCUSDT", h, [h]) for h in range(3)])
        assert (first.inserted, first.updated, first.unchanged) == (3, 0, 0)
        # Newer candles of the series, and a new series: nothing at or after them is there.
        newer = [_row("BTCUSDT", h, [h]) for h in (3, 4)] + [_row("ETHUSDT", 0, [0])]
        assert await loader._nothing_at_or_after(newer)
        assert not await loader._nothing_at_or_after([_row("BTCUSDT", 2, [2])])
        assert not await loader._nothing_at_or_after([_row("BTCUSDT", 1, [9]), *newer])
        # A series whose pages are not next to each other in the batch: its oldest row is
        # the oldest of all its runs (here its second one's).
        apart = [_row("BTCUSDT", 9, [9]), _row("ETHUSDT", 5, [5]), _row("BTCUSDT", 1, [1])]
        assert not await loader._nothing_at_or_after(apart)
        assert (await loader.load(newer)).inserted == 3
        # A row written after the probe (another writer) fails the COPY: the batch is
        # upserted instead, counts exact, nothing lost or doubled.
        loader2 = RawLoader(conn, table, "run-2")

        async def probe_says_new(rows: object) -> bool:
            return True

        loader2._nothing_at_or_after = probe_says_new  # type: ignore[method-assign]
        again = await loader2.load(
            [_row("BTCUSDT", 4, [4]), _row("BTCUSDT", 5, [5]), _row("BTCUSDT", 0, ["changed"])]
        )
        assert (again.inserted, again.updated, again.unchanged) == (1, 1, 1)
        cur = await conn.execute(
            "select count(*), count(*) filter (where run_id = 'run-1'),"
            " min(first_seen_at) = max(first_seen_at) from raw.binance__klines"
        )
        assert await cur.fetchone() == (7, 5, True)


async def test_binary_and_text_copy_load_the_same_rows(loader_dsn: str, clean_stores: None) -> None:
    # Rows go by binary COPY when their key values have the column types' Python types,
    # else by COPY text: both must land the same values, new rows (COPY alone) and
    # changed ones (the upsert through the temporary table) alike.
    table = get_table("binance", "klines")
    records: list[object] = [
        [0, "tab\there", "back\\slash", "new\nline"],
        {"é": "\u2028", "n": 1.5e-7},
        [2**63 - 1, None, True],
    ]
    fetched = T0 + timedelta(days=1, milliseconds=250)

    def rows(as_text: bool, version: int) -> list[RawRow]:
        out = []
        for hour, record in enumerate(records):
            at = T0 + timedelta(hours=hour)
            out.append(
                RawRow(
                    ("BTCUSDT", "1h", at.isoformat() if as_text else at),
                    dumps([version, record]),
                    fetched,
                    None if hour == 1 else "d" * 32,
                )
            )
        return out

    loaded = []
    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await ensure_schema(conn)
        for as_text in (False, True):
            await conn.execute("truncate raw.binance__klines")
            assert fits_binary(rows(as_text, 1), ["text", "text", "timestamptz"]) is not as_text
            loader = RawLoader(conn, table, "run-1")
            assert (await loader.load(rows(as_text, 1))).inserted == 3
            assert (await loader.load(rows(as_text, 2))).updated == 3
            cur = await conn.execute(
                "select symbol, interval, open_time, record, fetched_at, first_seen_at,"
                " last_seen_at, run_id, lake_document_id from raw.binance__klines"
                " order by open_time"
            )
            loaded.append(await cur.fetchall())
    assert loaded[0] == loaded[1]
    assert [row[3] for row in loaded[0]] == [[2, r] for r in records]
    assert loaded[0][0][4] == fetched and loaded[0][1][8] is None


async def test_date_keys_and_times_in_other_zones_go_by_binary_copy_as_by_text(
    loader_dsn: str, clean_stores: None
) -> None:
    # Binary COPY sends dates and times of any zone as PostgreSQL's own binary values: the
    # same rows as COPY text land the same values. A datetime where a date belongs does not
    # fit binary (it goes as text, cast there).
    table = get_table("fx", "rates")
    east = timezone(timedelta(hours=5, minutes=30))
    fetched = datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=east)
    days = [date(1999, 12, 31), date(2000, 1, 1), date(2038, 1, 20)]

    def rows(as_text: bool) -> list[RawRow]:
        return [
            RawRow(
                ("USD", "BRL", day.isoformat() if as_text else day), dumps({"r": i}), fetched, None
            )
            for i, day in enumerate(days)
        ]

    assert fits_binary(rows(False), ["text", "text", "date"])
    assert not fits_binary(rows(True), ["text", "text", "date"])
    as_datetime = [r._replace(key=("USD", "BRL", T0)) for r in rows(False)[:1]]
    assert not fits_binary(as_datetime, ["text", "text", "date"])
    loaded = []
    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await ensure_schema(conn)
        for as_text in (False, True):
            await conn.execute("truncate raw.fx__rates")
            assert (await RawLoader(conn, table, "run-1").load(rows(as_text))).inserted == 3
            cur = await conn.execute(
                "select base_currency, quote_currency, rate_date, record, fetched_at,"
                " lake_document_id from raw.fx__rates order by rate_date"
            )
            loaded.append(await cur.fetchall())
    assert loaded[0] == loaded[1]
    assert [row[2] for row in loaded[0]] == days and loaded[0][0][4] == fetched


async def test_a_run_analyzes_the_keys_and_bookkeeping_columns_not_the_record(
    loader_dsn: str, clean_stores: None
) -> None:
    # jsonb statistics are most of an analyze's cost and no plan reads them: they are left
    # to autovacuum. A table of this test alone, autovacuum off, so only the run analyzes.
    table = dataclasses.replace(get_table("binance", "klines"), endpoint="analyze_probe")
    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await ensure_schema(conn)
        await conn.execute(sql.SQL("drop table if exists {}").format(table_sql(table)))
        await conn.execute(table_ddl(table))
        try:
            await conn.execute(
                sql.SQL("alter table {} set (autovacuum_enabled = off)").format(table_sql(table))
            )
            await RawLoader(conn, table, "run-1").load(
                [_row("BTCUSDT", h, {"h": h}) for h in range(500)]
            )
            assert await analyze_if_stale(conn, table, 500)
            cur = await conn.execute(
                "select attname from pg_stats where schemaname = 'raw' and tablename = %s",
                [table.name],
            )
            analyzed = {r[0] for r in await cur.fetchall()}
        finally:
            await conn.execute(sql.SQL("drop table {}").format(table_sql(table)))
    assert analyzed == {*table.key_names, *ANALYZED_COLUMNS}
    assert "record" not in analyzed
