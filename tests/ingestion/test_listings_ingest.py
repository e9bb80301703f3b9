"""The listing endpoints land like every endpoint: lake (body byte for byte, compressed
when large) and raw."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
from ingestion_support import SIM_NOW
from pymongo import MongoClient

from ingestion.connectors.registry import REGISTRY
from ingestion.run.ingest import run_ingestion
from ingestion.settings import Settings
from ingestion.simulator import RunningSimulator
from ingestion.sinks.lake import stored_body

LISTINGS = [s for s in REGISTRY if s.is_listing]


async def test_listings_land_in_lake_and_raw_with_every_pair(
    sim: RunningSimulator,
    sim_settings: Settings,
    loader_dsn: str,
    mongo_uri: str,
    mongo_db_name: str,
) -> None:
    summary = await run_ingestion(sim_settings, endpoints=[s.name for s in LISTINGS], now=SIM_NOW)
    assert summary.ok, [(e.name, e.error) for e in summary.failed]
    assert sorted(e.name for e in summary.endpoints) == sorted(s.name for s in LISTINGS)
    with psycopg.connect(loader_dsn) as conn:
        for spec in LISTINGS:
            table = spec.raw_table
            served = sim.state.ground_truth(spec.source, _path(spec.name))
            keys = {
                tuple(row[:-1]): row[-1]
                for row in conn.execute(
                    f"select {', '.join(table.key_names)}, record from {table.qualified_name}"
                )
            }
            assert set(keys) == set(served), spec.name
        statuses: dict[str, str] = dict(
            conn.execute(
                "select symbol, record ->> 'status' from raw.binance__exchange_info"
            ).fetchall()
        )
    assert statuses["LUNAUSDT"] == "BREAK" and statuses["AVAXUSDT"] == "TRADING"
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo_uri) as client:
        docs: list[dict[str, Any]] = list(
            client[mongo_db_name]["responses"].find({"run_id": summary.run_id})
        )
    assert sorted(d["endpoint"] for d in docs) == sorted(s.endpoint for s in LISTINGS)
    for doc in docs:  # the body as received, byte for byte
        assert hashlib.sha256(stored_body(doc)).hexdigest() == doc["body_sha256"]


def _path(name: str) -> str:
    return {
        "binance/exchange_info": "/api/v3/exchangeInfo",
        "kraken/asset_pairs": "/0/public/AssetPairs",
        "coinbase/products": "/products",
        "mercadobitcoin/symbols": "/symbols",
        "coingecko/coins_list": "/coins/list",
    }[name]
