"""Ingestion hardening on the real servers: no response crashes an endpoint, the lake gets
every body whether or not it parses, and ``lake replay`` goes past any stored body."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp import web
from ingestion_support import SIM_NOW
from pymongo import AsyncMongoClient, MongoClient

from ingestion.errors import LakeDocumentError
from ingestion.http import Response
from ingestion.run.ingest import run_ingestion
from ingestion.run.replay import replay_from_lake
from ingestion.settings import Settings
from ingestion.sinks.lake import (
    Lake,
    LakeWriter,
    StoredResponse,
    response_document,
    stored_body,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def query(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def lake(mongo_uri: str, db: str, collection: str = "responses") -> Any:
    return MongoClient(mongo_uri, tz_aware=True)[db][collection]


def markets_with_a_null() -> bytes:
    """The real /coins/markets sample with one ``null`` element (the issue's first crash)."""
    coins = json.loads((FIXTURES / "coingecko" / "coins_markets.json").read_bytes())
    for coin in coins:  # recent enough to be possible at the simulated time
        coin["last_updated"] = "2025-03-01T12:00:00.000Z"
    return json.dumps([coins[0], None, *coins[1:]]).encode()


async def test_a_null_element_quarantines_one_record_and_keeps_the_body(
    sim_settings: Settings,
    stand_in: Any,
    loader_dsn: str,
    mongo_uri: str,
    mongo_db_name: str,
) -> None:
    body = markets_with_a_null()

    async def markets(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    root = await stand_in("/coins/markets", markets)
    settings = sim_settings.model_copy(update={"coingecko_base_url": root})
    summary = await run_ingestion(
        settings, sources=["coingecko"], endpoints=["markets"], now=SIM_NOW
    )
    (stats,) = summary.endpoints
    assert stats.status == "success", stats.error
    assert (stats.fetched, stats.inserted, stats.quarantined) == (7, 6, 1)
    (document,) = lake(mongo_uri, mongo_db_name).find({"source": "coingecko"})
    assert stored_body(document) == body  # compressed or not, byte for byte
    assert document["body_sha256"] == hashlib.sha256(body).hexdigest()
    ((reason, record, document_id),) = query(
        loader_dsn, "select reason, record, lake_document_id from raw.quarantine"
    )
    assert reason.startswith("AttributeError") and record is None
    assert document_id == document["_id"]


async def test_a_page_its_parser_rejects_is_quarantined_and_the_run_goes_on(
    sim_settings: Settings,
    stand_in: Any,
    loader_dsn: str,
    mongo_uri: str,
    mongo_db_name: str,
) -> None:
    body = b'{"data": {"total_market_cap": "not an object"}}'

    async def odd_global(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    root = await stand_in("/global", odd_global)
    settings = sim_settings.model_copy(
        update={"fear_greed_base_url": root, "coingecko_base_url": root}
    )
    summary = await run_ingestion(
        settings, sources=["coingecko"], endpoints=["global"], now=SIM_NOW
    )
    (stats,) = summary.endpoints
    assert (stats.fetched, stats.quarantined) == (1, 1)
    (document,) = lake(mongo_uri, mongo_db_name).find({"source": "coingecko"})
    assert stored_body(document) == body and document["record_count"] == 0
    ((reason, document_id),) = query(
        loader_dsn, "select reason, lake_document_id from raw.quarantine"
    )
    assert "total_market_cap" in reason and document_id == document["_id"]


async def test_replay_goes_past_bodies_it_cannot_read(
    sim_settings: Settings,
    loader_dsn: str,
    mongo_uri: str,
    mongo_db_name: str,
) -> None:
    summary = await run_ingestion(sim_settings, sources=["fear_greed"], now=SIM_NOW)
    assert summary.ok
    loaded = query(loader_dsn, "select count(*) from raw.fear_greed__fng")[0][0]
    responses = lake(mongo_uri, mongo_db_name)
    good = responses.find_one({"source": "fear_greed"})
    at = datetime(2025, 3, 1, 13, tzinfo=UTC)
    base = {k: good[k] for k in ("source", "endpoint", "request", "status", "headers")}
    responses.insert_many(
        [
            {**base, "_id": "a" * 32, "body_sha256": "a", "fetched_at": at, "body": "{not json"},
            {
                **base,
                "_id": "b" * 32,
                "body_sha256": "b",
                "fetched_at": at,
                "body": '{"data": [null, {"value": "x", "timestamp": "1"}]}',
            },
            {**base, "_id": "c" * 32, "body_sha256": "c", "fetched_at": at, "body": "[]"},
            {
                **{k: v for k, v in base.items() if k != "request"},
                "_id": "d" * 32,
                "body_sha256": "d",
                "fetched_at": at,
                "body": "{}",
            },
            {
                **base,
                "source": "nobody",
                "_id": "e" * 32,
                "body_sha256": "e",
                "fetched_at": at,
                "body": "{}",
            },
        ]
    )
    replayed = await replay_from_lake(sim_settings)  # "nobody" has no connector: skipped
    (stats,) = replayed.endpoints
    assert stats.fetched == loaded + 5  # 3 odd pages and 2 odd records of one page
    assert stats.quarantined == 5 and stats.unchanged == loaded
    reasons = dict(
        query(
            loader_dsn,
            "select lake_document_id, string_agg(reason, ' | ') from raw.quarantine group by 1",
        )
    )
    assert "not JSON" in reasons["a" * 32] or "Expecting" in reasons["a" * 32]
    assert "AttributeError" in reasons["b" * 32] and "value 'x'" in reasons["b" * 32]
    assert reasons["c" * 32].startswith("unexpected body")
    assert "KeyError: 'request'" in reasons["d" * 32]


# --------------------------------------------------------------------------- accounting
SKIP_ONE_ROW = """
create or replace function raw.test_skip_one() returns trigger language plpgsql
security definer as $$
begin
    if nextval('raw._test_seq') = 1 then return null; end if;  -- the first row: dropped
    return new;
end $$;
create trigger test_skip_one before insert on raw.fear_greed__fng
    for each row execute function raw.test_skip_one()"""
RENAME_RUN = """
create or replace function raw.test_rename_run() returns trigger language plpgsql as $$
begin new.run_id := 'someone-else'; return new; end $$;
create trigger test_rename_run before insert on raw.fear_greed__fng
    for each row execute function raw.test_rename_run()"""


@pytest.mark.parametrize(
    ("trigger", "complaint"),
    [
        (SKIP_ONE_ROW, "5 distinct records went in, but the statement inserted 4"),
        (RENAME_RUN, "rows of run"),
    ],
    ids=["a-row-silently-not-written", "rows-not-under-the-run-id"],
)
async def test_the_database_disagreeing_with_the_counts_fails_the_run_and_is_recorded(
    sim_settings: Settings,
    admin_dsn: str,
    loader_dsn: str,
    trigger: str,
    complaint: str,
) -> None:
    # A trigger makes the server do something else than the loader asked: what the run
    # reports must come from the database, so it notices.
    await run_ingestion(sim_settings, sources=["fear_greed"], now=SIM_NOW)  # the table
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("truncate raw.fear_greed__fng")
        conn.execute("create sequence raw._test_seq")
        conn.execute(trigger)
    try:
        summary = await run_ingestion(sim_settings, sources=["fear_greed"], now=SIM_NOW)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute("drop trigger if exists test_skip_one on raw.fear_greed__fng")
            conn.execute("drop trigger if exists test_rename_run on raw.fear_greed__fng")
            conn.execute("drop sequence raw._test_seq")
    (stats,) = summary.endpoints
    assert stats.status == "failed"
    assert "accounting does not add up" in str(stats.error) and complaint in str(stats.error)
    ((status, error),) = query(
        loader_dsn,
        "select status, error from raw.ingestion_runs where run_id = %s",
        [summary.run_id],
    )
    assert status == "failed" and complaint in error  # recorded, not dropped


async def test_a_migration_adds_the_accounting_check_to_an_older_table(
    admin_dsn: str,
    loader_dsn: str,
) -> None:
    from ingestion.sinks.raw.schema import ACCOUNTING_CHECK, ensure_schema

    def run_row(run_id: str, status: str, fetched: int) -> str:
        return (
            f"insert into raw.ingestion_runs (run_id, source, endpoint, started_at, status,"
            f" fetched) values ('{run_id}', 'fx', 'rates', now(), '{status}', {fetched})"
        )

    def checks() -> list[tuple[Any, ...]]:
        return query(
            admin_dsn,
            "select conname, convalidated from pg_constraint "
            "where conrelid = 'raw.ingestion_runs'::regclass "
            "and contype = 'c' and conname like 'fetched%%'",
        )

    async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
        await ensure_schema(conn)
    with psycopg.connect(admin_dsn, autocommit=True) as sync:
        # The table as an older version made it: no accounting check, a row that is off.
        sync.execute(f"alter table raw.ingestion_runs drop constraint {ACCOUNTING_CHECK}")
        sync.execute(run_row("old-run", "success", 5))
    try:
        async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
            await ensure_schema(conn)
        assert checks() == [(ACCOUNTING_CHECK, False)]  # new rows checked, old kept
        with psycopg.connect(loader_dsn, autocommit=True) as sync:
            with pytest.raises(psycopg.errors.CheckViolation):
                sync.execute(run_row("new-run", "success", 3))
            sync.execute(run_row("failed-run", "failed", 3))  # a failed run is recorded
            sync.execute("delete from raw.ingestion_runs where run_id in ('old-run', 'failed-run')")
        async with await psycopg.AsyncConnection.connect(loader_dsn, autocommit=True) as conn:
            await ensure_schema(conn)
        assert checks() == [(ACCOUNTING_CHECK, True)]  # validated once the rows allow
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as sync:
            sync.execute(
                "delete from raw.ingestion_runs where run_id in "
                "('old-run', 'new-run', 'failed-run')"
            )


# --------------------------------------------------------------------------- lake bytes
async def test_the_lake_keeps_the_exact_bytes_of_a_body_that_is_not_utf8(
    sim_settings: Settings,
    stand_in: Any,
    loader_dsn: str,
    mongo_uri: str,
    mongo_db_name: str,
) -> None:
    # Latin-1, not UTF-8: "Neutré" in one byte per character.
    body = (
        '{"name": "Fear and Greed Index", "data": [{"value": "50", "value_classification": '
        '"Neutr\xe9", "timestamp": "1740787200"}]}'
    ).encode("latin-1")

    async def fng(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    root = await stand_in("/fng/", fng)
    settings = sim_settings.model_copy(update={"fear_greed_base_url": root})
    summary = await run_ingestion(settings, sources=["fear_greed"], now=SIM_NOW)
    assert summary.ok, summary.endpoints[0].error
    (document,) = lake(mongo_uri, mongo_db_name).find({"source": "fear_greed"})
    assert bytes(document["body_exact"]) == body == stored_body(document)
    assert document["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert "Neutr\ufffd" in document["body"]  # the text view
    ((classification,),) = query(
        loader_dsn, "select record ->> 'value_classification' from raw.fear_greed__fng"
    )
    assert classification == "Neutr\ufffd"
    replayed = await replay_from_lake(settings, "fear_greed")
    assert replayed.ok and replayed.endpoints[0].unchanged == 1
    # A UTF-8 body is kept as text only, hashed over the same bytes.
    utf8 = await run_ingestion(sim_settings, sources=["fx"], now=SIM_NOW)
    assert utf8.ok
    (fx,) = lake(mongo_uri, mongo_db_name).find({"source": "fx"})
    assert "body_exact" not in fx
    assert fx["body_sha256"] == hashlib.sha256(stored_body(fx)).hexdigest()


# --------------------------------------------------------------------------- lake batches
async def test_a_document_the_lake_refuses_fails_alone_in_its_batch(
    mongo_uri: str,
    mongo_db_name: str,
    clean_stores: None,
) -> None:
    def response(source: str, endpoint: str, body: str, **headers: str) -> Response:
        return Response(
            source,
            endpoint,
            "/x",
            {},
            200,
            dict(headers),
            body,
            None,
            datetime(2025, 1, 1, tzinfo=UTC),
        )

    documents = [
        response_document(response("fx", "rates", "[1]"), run_id="r", record_count=1),
        # A key FerretDB (and MongoDB) refuses, and a body no BSON document can hold.
        response_document(
            response("binance", "klines", "[2]", **{"x.y": "1"}), run_id="r", record_count=1
        ),
        response_document(
            response("kraken", "ohlc", "[" + "1," * (9 << 20) + "1]"), run_id="r", record_count=1
        ),
        response_document(response("coinbase", "candles", "[4]"), run_id="r", record_count=1),
    ]
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    try:
        lake = Lake.connect(client, mongo_db_name)
        await lake.ensure_indexes()
        async with LakeWriter(lake) as writer:
            futures = [writer.submit(document) for document in documents]  # one batch
            results = await asyncio.gather(*futures, return_exceptions=True)
        stored = {d["source"] async for d in lake.responses.find({}, {"source": 1})}
    finally:
        await client.close()
    ok, refused, too_big, also_ok = results
    assert isinstance(ok, StoredResponse) and isinstance(also_ok, StoredResponse)
    assert isinstance(refused, LakeDocumentError) and "x.y" in str(refused)
    assert isinstance(too_big, LakeDocumentError) and "over what one lake document" in str(too_big)
    assert stored == {"fx", "coinbase"}  # the other endpoints' documents are in


async def test_the_lake_writer_queue_is_bounded(
    mongo_uri: str,
    mongo_db_name: str,
    clean_stores: None,
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    body = "[" + "1," * 50_000 + "1]"
    try:
        lake = Lake.connect(client, mongo_db_name)
        await lake.ensure_indexes()
        async with LakeWriter(lake, max_queued_bytes=3 * len(body)) as writer:
            most = 0
            for i in range(40):
                document = response_document(
                    Response(
                        "binance",
                        "klines",
                        "/x",
                        {"n": str(i)},
                        200,
                        {},
                        body,
                        None,
                        datetime(2025, 1, 1, tzinfo=UTC),
                    ),
                    run_id="r",
                    record_count=1,
                )
                await writer.put(document)
                most = max(most, writer._queued_bytes)
        assert most <= 4 * len(body)  # the cap and the one document let in under it
        assert await lake.responses.count_documents({}) == 40
    finally:
        await client.close()
