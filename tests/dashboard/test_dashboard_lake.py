"""The Lake page and its MongoDB aggregations, on the real MongoDB-protocol server.

Documents are written by the project's own lake sink (ingestion/sinks/lake.py), as ingestion
writes them; the demo lake is the one the dashboard fixture's pipeline run filled.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pipeline import Warehouse
from pymongo import AsyncMongoClient, MongoClient
from streamlit.testing.v1 import AppTest

from dashboard import lake_data
from ingestion.http import InvalidBody, Response
from ingestion.sinks.lake import Lake, response_document

DAY_1 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
DAY_2 = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
BIG = '{"total_supply": 123456789012345678901234567890, "price": 0.1000000000000000055511151231257827, "name": "Ω"}'  # noqa: E501


def _response(source: str, endpoint: str, status: int, text: str, at: datetime) -> Response:
    return Response(source, endpoint, f"/{endpoint}", {"symbol": "BTCUSDT"}, status, {}, text,
                    json.loads(text), at)  # fmt: skip


async def _fill(uri: str, database: str) -> None:
    client: AsyncMongoClient = AsyncMongoClient(uri)
    try:
        lake = Lake.connect(client, database)
        await lake.ensure_indexes()
        documents = [
            response_document(_response("binance", "klines", 200, "[[1, 2]]", DAY_1),
                              run_id="r1", record_count=1),
            response_document(_response("binance", "klines", 200, BIG, DAY_2),
                              run_id="r2", record_count=3),
            response_document(_response("binance", "klines", 429, '{"code": -1003}', DAY_2),
                              run_id="r2", record_count=0),
            response_document(_response("kraken", "ohlc", 200, '{"error": []}', DAY_2),
                              run_id="r2", record_count=0),
        ]  # fmt: skip
        await lake.store_many(documents)
        await lake.store_invalid(
            InvalidBody("coinbase", "candles", "/products/BTC-USD/candles", {}, 200, {},
                        "<html>502 Bad Gateway</html>", "not JSON: Expecting value", DAY_2),
            run_id="r2",
        )  # fmt: skip
    finally:
        await client.close()


@pytest.fixture(scope="module")
def small_lake(mongo_uri: str) -> Iterator[str]:
    name = f"lake_dash_small_{os.getpid()}"
    with MongoClient[dict[str, Any]](mongo_uri) as client:
        client.drop_database(name)
    asyncio.run(_fill(mongo_uri, name))
    yield name
    with MongoClient[dict[str, Any]](mongo_uri) as client:
        client.drop_database(name)


def test_aggregations_per_day_status_and_quarantine(
    small_lake: str, use_lake: Callable[[str], None]
) -> None:
    use_lake(small_lake)
    daily = lake_data.responses_per_day(days=30, today=DAY_2)
    rows = {(r.day.isoformat(), r.source, r.endpoint): r for r in daily.itertuples()}
    assert set(rows) == {
        ("2026-11-29", "binance", "klines"),
        ("2026-11-30", "binance", "klines"),
        ("2026-11-30", "kraken", "ohlc"),
    }
    busy = rows[("2026-11-30", "binance", "klines")]
    assert busy.responses == 2 and busy.records == 3
    assert busy.body_bytes == len(BIG.encode()) + len(b'{"code": -1003}')  # UTF-8 bytes
    assert list(daily["day"]) == sorted(daily["day"], reverse=True)
    assert lake_data.responses_per_day(days=1, today=DAY_2)["day"].unique().tolist() == [
        DAY_2.date()
    ]

    errors = lake_data.error_responses()
    assert errors.to_dict("records") == [
        {"source": "binance", "endpoint": "klines", "status": 429, "responses": 1,
         "body_bytes": 15}
    ]  # fmt: skip
    quarantine = lake_data.quarantine_summary()
    assert quarantine[["source", "bodies", "body_bytes"]].to_dict("records") == [
        {"source": "coinbase", "bodies": 1, "body_bytes": len("<html>502 Bad Gateway</html>")}
    ]
    newest = lake_data.newest_responses(limit=3)
    assert len(newest) == 3 and "body" not in newest
    assert newest["request"].iloc[0].endswith("?symbol=BTCUSDT")
    status = lake_data.lake_status()
    assert (status.ready, status.responses, status.quarantined) == (True, 4, 1)


def test_stored_body_is_pretty_printed_with_every_number_exact(
    small_lake: str, use_lake: Callable[[str], None]
) -> None:
    use_lake(small_lake)
    newest = lake_data.newest_responses()
    big_id = newest[newest["record_count"] == 3]["document_id"].iloc[0]
    document = lake_data.stored_body("responses", big_id)
    assert document is not None and document["body"] == BIG
    pretty = lake_data.pretty_json(document["body"])
    assert pretty is not None
    assert '"total_supply": 123456789012345678901234567890' in pretty
    assert '"price": 0.1000000000000000055511151231257827' in pretty
    assert '"name": "Ω"' in pretty and pretty.count("\n") == 4
    assert json.loads(pretty) == json.loads(BIG)
    quarantined = lake_data.newest_quarantined()["document_id"].iloc[0]
    stored = lake_data.stored_body("quarantine", quarantined)  # an ObjectId, given as text
    assert stored is not None and stored["raw_text"].startswith("<html>")
    assert lake_data.pretty_json(stored["raw_text"]) is None
    assert lake_data.stored_body("responses", "no-such-id") is None
    with pytest.raises(ValueError, match="unknown lake collection"):
        lake_data.stored_body("users", big_id)


def test_older_documents_get_their_size_and_day_once(small_lake: str, mongo_uri: str) -> None:
    # A lake written before the summary fields (and before the marker that they were added)
    with MongoClient[dict[str, Any]](mongo_uri) as client:
        client[small_lake].responses.update_many(
            {}, {"$unset": {"body_bytes": "", "fetched_day": ""}}
        )
        client[small_lake].meta.delete_many({})

    async def backfill() -> tuple[int, int]:
        client: AsyncMongoClient = AsyncMongoClient(mongo_uri)
        try:
            lake = Lake.connect(client, small_lake)
            return await lake.add_summary_fields(), await lake.add_summary_fields()
        finally:
            await client.close()

    assert asyncio.run(backfill()) == (4, 0)
    with MongoClient[dict[str, Any]](mongo_uri) as client:
        days = sorted(d["fetched_day"] for d in client[small_lake].responses.find())
        marker = client[small_lake].meta.find_one({"_id": "summary_fields"})
        # Once marked, a run does not read the lake again for them (on FerretDB that
        # query reads every document): a document lacking them now is left as it is.
        client[small_lake].responses.update_one({}, {"$unset": {"body_bytes": ""}})
    assert days == ["2026-11-29", "2026-11-30", "2026-11-30", "2026-11-30"]
    assert marker is not None and marker["updated"] == 4
    assert asyncio.run(backfill()) == (0, 0)


def test_lake_page_on_the_demo_lake(
    on_demo_warehouse: Warehouse,
    use_lake: Callable[[str], None],
    open_page: Callable[..., AppTest],
    page_text: Callable[[AppTest], str],
    mongo_uri: str,
) -> None:
    use_lake(on_demo_warehouse.mongo_db)
    at = open_page("lake")
    assert not at.exception, at.exception
    with MongoClient[dict[str, Any]](mongo_uri) as client:
        stored = client[on_demo_warehouse.mongo_db].responses.count_documents({})
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["responses stored"].replace(",", "")) == stored > 0
    assert at.get("plotly_chart"), page_text(at)
    assert "as of" in page_text(at)
    newest = next(d.value for d in at.dataframe if "document_id" in d.value)
    assert len(newest) == 50 and newest["fetched_at"].is_monotonic_decreasing
    # the viewer opens the newest response, pretty-printed
    code = at.code[0].value
    document = lake_data.stored_body("responses", newest["document_id"].iloc[0])
    assert document is not None and code == lake_data.pretty_json(document["body"])
    # and any document by id
    other = newest["document_id"].iloc[-1]
    at.text_input(key="lake.document_id").set_value(other).run()
    assert not at.exception
    document = lake_data.stored_body("responses", other)
    assert document is not None
    assert at.code[0].value == lake_data.pretty_json(document["body"])


def test_lake_page_without_a_lake_says_what_to_run(
    use_lake: Callable[[str], None],
    open_page: Callable[..., AppTest],
    page_text: Callable[[AppTest], str],
) -> None:
    use_lake(f"lake_never_filled_{os.getpid()}")
    at = open_page("lake")
    assert not at.exception, at.exception
    assert "No data yet — run `make demo`" in page_text(at)
    assert "holds no response yet" in page_text(at)
