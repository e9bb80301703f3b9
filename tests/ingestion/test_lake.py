"""The lake on the real MongoDB-protocol server: computed ``_id``s, batched writes that
tolerate duplicates, and raw rows that always name a document that exists."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import zstandard
from bson import Binary, ObjectId
from ingestion_support import SIM_NOW
from pymongo import AsyncMongoClient, MongoClient

from ingestion.http import Response
from ingestion.run.ingest import run_ingestion
from ingestion.settings import Settings
from ingestion.sinks.lake import (
    CODEC,
    CODEC_SPARSE,
    CODECS,
    DECOMPRESS,
    Lake,
    LakeWriter,
    codec_for,
    compress_body,
    document_id,
    response_document,
    stored_body,
    stored_text,
)


def _response(body: str, status: int = 200) -> Response:
    return Response(
        "binance",
        "klines",
        "/api/v3/klines",
        {"symbol": "BTCUSDT", "limit": "2"},
        status,
        {},
        body,
        None,
        datetime(2025, 1, 1, tzinfo=UTC),
    )


async def test_identical_responses_share_one_document_and_changed_ones_add_history(
    mongo_uri: str,
    mongo_db_name: str,
    clean_stores: None,
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    try:
        lake = Lake.connect(client, mongo_db_name)
        await lake.ensure_indexes()
        first = response_document(_response("[1]"), run_id="r1", record_count=1)
        again = response_document(_response("[1]"), run_id="r2", record_count=1)
        changed = response_document(_response("[2]"), run_id="r2", record_count=1)
        assert first["_id"] == again["_id"] != changed["_id"]
        # The id does not depend on the order params were given in.
        assert (
            document_id(
                "binance",
                "klines",
                "/api/v3/klines",
                {"limit": "2", "symbol": "BTCUSDT"},
                first["body_sha256"],
            )
            == first["_id"]
        )
        async with LakeWriter(lake) as writer:
            acks = [writer.submit(d) for d in (first, again, changed)]
            stored = [await ack for ack in acks]
        assert [s.is_new for s in stored] == [True, False, True]
        assert [s.document_id for s in stored] == [first["_id"], first["_id"], changed["_id"]]
        assert await lake.responses.count_documents({}) == 2
        assert (await lake.get(first["_id"]) or {})["run_id"] == "r1"  # the first one stays
    finally:
        await client.close()


async def test_rows_point_at_the_document_an_older_lake_stored_under_an_objectid(
    sim_settings: Settings,
    loader_dsn: str,
    mongo_uri: str,
    mongo_db_name: str,
) -> None:
    await run_ingestion(sim_settings, sources=["fx"], now=SIM_NOW)
    # Make the lake look like one written before ids were computed: same identity and
    # body, server-made ObjectId.
    legacy = ObjectId()
    with MongoClient[dict[str, Any]](mongo_uri) as client:
        responses = client[mongo_db_name]["responses"]
        (document,) = list(responses.find({"source": "fx"}))
        responses.delete_one({"_id": document["_id"]})
        responses.insert_one({**document, "_id": legacy})
    with psycopg.connect(loader_dsn, autocommit=True) as conn:
        conn.execute("truncate raw.fx__rates")
    summary = await run_ingestion(sim_settings, sources=["fx"], now=SIM_NOW)
    assert summary.ok and summary.endpoints[0].lake_documents == 0
    with psycopg.connect(loader_dsn) as conn:
        pointers = conn.execute("select distinct lake_document_id from raw.fx__rates").fetchall()
    assert pointers == [(str(legacy),)]
    client2: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    try:
        found = await Lake.connect(client2, mongo_db_name).get(str(legacy))
        assert found is not None and found["source"] == "fx"
    finally:
        await client2.close()


async def test_every_raw_row_names_a_lake_document_that_exists(
    sim_settings: Settings,
    loader_dsn: str,
    mongo_uri: str,
    mongo_db_name: str,
) -> None:
    await run_ingestion(sim_settings, sources=["binance", "coinbase"], now=SIM_NOW)
    with psycopg.connect(loader_dsn) as conn:
        pointers = {
            r[0]
            for r in conn.execute(
                "select lake_document_id from raw.binance__klines union "
                "select lake_document_id from raw.binance__ticker_24hr union "
                "select lake_document_id from raw.coinbase__candles"
            ).fetchall()
        }
    with MongoClient[dict[str, Any]](mongo_uri) as client:
        ids = {d["_id"] for d in client[mongo_db_name]["responses"].find({}, {"_id": 1})}
    assert pointers and pointers <= ids


async def test_minute_pages_get_zstd_level_1_and_hourly_ones_a_smaller_frame(
    sim_settings: Settings, mongo_uri: str, mongo_db_name: str
) -> None:
    """A run of 1m and 1h klines, read back through the real server: a minute page holds
    exactly zstd level 1's frame of its body, an hourly page the smaller one of zstd's
    lazy2 strategy; both give the body back byte for byte."""
    settings = sim_settings.model_copy(
        update={"candle_intervals": ("1m", "1h"), "assets": ("BTC",)}
    )
    start = SIM_NOW - timedelta(days=2)
    summary = await run_ingestion(
        settings, sources=["binance"], endpoints=["klines"], start=start, now=SIM_NOW
    )
    assert summary.ok, [(e.name, e.error) for e in summary.failed]
    with MongoClient[dict[str, Any]](mongo_uri, tz_aware=True) as client:
        pages = list(client[mongo_db_name]["responses"].find({"endpoint": "klines"}))
    by_interval: dict[str, list[dict[str, Any]]] = {}
    for page in pages:
        by_interval.setdefault(page["request"]["params"]["interval"], []).append(page)
    assert set(by_interval) == {"1m", "1h"}
    for interval, documents in by_interval.items():
        for document in documents:
            body = stored_body(document)
            assert hashlib.sha256(body).hexdigest() == document["body_sha256"]
            frame = bytes(document["body_zstd"])
            level_1 = zstandard.compress(body, 1)
            if interval == "1m":
                assert frame == level_1
            else:
                assert len(frame) < len(level_1)


def test_the_codec_follows_how_far_apart_a_pages_records_are() -> None:
    """Level 1 for records under an hour apart (a snapshot's are all of one time), the
    lazy2 strategy for hourly and daily candles and for pages without a time range."""
    at = datetime(2025, 1, 1, tzinfo=UTC)

    def page(count: int, span: timedelta | None) -> dict[str, Any]:
        return {
            "record_count": count,
            "records_from": at if span is not None else None,
            "records_to": at + span if span is not None else None,
        }

    assert codec_for(page(1000, timedelta(minutes=999))) is CODEC
    assert codec_for(page(10, timedelta(0))) is CODEC  # tickers: one time
    assert codec_for(page(300, timedelta(minutes=5 * 299))) is CODEC
    assert codec_for(page(1000, timedelta(hours=999))) is CODEC_SPARSE
    assert codec_for(page(365, timedelta(days=364))) is CODEC_SPARSE
    assert codec_for(page(19, None)) is CODEC_SPARSE  # a listing
    assert codec_for(page(1, timedelta(0))) is CODEC_SPARSE


@pytest.mark.parametrize("older", [name for name in CODECS if CODECS[name].field != CODEC.field])
def test_a_body_an_older_lake_stored_with_another_codec_reads_back_byte_for_byte(
    older: str, mongo_uri: str, mongo_db_name: str, clean_stores: None
) -> None:
    """New documents hold ``body_zstd``; the ``body_bz2`` and ``body_zlib`` written before
    still read, each through the real server."""
    body = ("[" + ",".join(f'["{n}","{n * 1.5}"]' for n in range(200)) + "]").encode()
    new = compress_body(response_document(_response(body.decode()), run_id="r1", record_count=1))
    codec = CODECS[older]
    old = {k: v for k, v in new.items() if k != CODEC.field}
    # What that codec wrote in its day (not compress_body: the field it filled is fixed).
    old[codec.field] = Binary(codec.compress(body))
    old["_id"] = "older" + new["_id"][5:]
    # Another request of that older lake: the unique response_identity index (source,
    # endpoint, request, body hash) refuses a second document of the same identity.
    old["request"] = {**new["request"], "params": {**new["request"]["params"], "limit": "3"}}
    with MongoClient[dict[str, Any]](mongo_uri) as client:
        responses = client[mongo_db_name]["responses"]
        responses.insert_many([new, old])
        stored_new = responses.find_one({"_id": new["_id"]})
        stored_old = responses.find_one({"_id": old["_id"]})
    assert stored_new is not None and stored_old is not None
    assert "body_zstd" in stored_new and "body" not in stored_new
    assert len(stored_new["body_zstd"]) < len(body) / 2
    assert set(stored_old) & set(DECOMPRESS) == {codec.field}
    assert stored_body(stored_new) == stored_body(stored_old) == body
    assert stored_text(stored_old) == body.decode()


def test_every_codec_gives_back_bytes_that_are_not_utf8_byte_for_byte() -> None:
    """A body kept as ``body_exact`` (not UTF-8) is what each codec compresses, exactly."""
    raw = b'["\xff\xfe' + b"1234567890" * 100 + b'"]'
    document = {"body": raw.decode("utf-8", errors="replace"), "body_exact": Binary(raw)}
    for codec in CODECS.values():
        stored = compress_body(document, codec)
        assert set(stored) == {codec.field}
        assert stored_body(stored) == raw
