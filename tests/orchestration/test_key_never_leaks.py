"""A CoinGecko key set to a marker value travels in its header and nowhere else: not in the
logs, the lake, ``raw.*`` (``raw.ingestion_runs.error`` included), Dagster's event log or
PostgreSQL's log, whether the requests succeed or fail."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from dagster import AssetKey, DagsterInstance
from dagster._serdes import serialize_value
from psycopg import sql
from pymongo import MongoClient

from ingestion.connectors.registry import REGISTRY
from ingestion.run.ingest import run_ingestion
from ingestion.services import Services, lake_uri
from ingestion.services.postgres import with_database
from ingestion.settings import Settings, load_settings
from ingestion.simulator import FaultPlan
from orchestration.automation import ALL_ASSETS_JOB
from orchestration.pipeline import run_job

MARKER = "CG-MARKER-5f1d0c7e"
# the snapshot endpoints: every code path the key can take, without a history to fetch
COINGECKO = [
    AssetKey(list(s.asset_key))
    for s in REGISTRY
    if s.source == "coingecko" and not s.is_time_windowed
]


def test_the_api_key_appears_nowhere_but_in_its_header(
    orch_env: dict[str, str],
    orch_settings: Settings,
    services: Services,
    simulator: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from orchestration.definitions import load_definitions

    defs = load_definitions()

    monkeypatch.setenv("CRIPTOPIPE_COINGECKO_API_KEY", MARKER)
    monkeypatch.setenv("CRIPTOPIPE_HTTP_MAX_RETRIES", "0")
    caplog.set_level(logging.DEBUG)
    started = len(simulator.state.request_log("coingecko"))
    last = datetime.now(UTC).date()
    # A Dagster run that succeeds: its events, metadata and logs go to the event log.
    with DagsterInstance.ephemeral() as instance:
        result = run_job(
            defs,
            ALL_ASSETS_JOB,
            start=last - timedelta(days=1),
            end=last,
            instance=instance,
            asset_selection=COINGECKO,
            log_level="DEBUG",
        )
        events = [serialize_value(e) for e in instance.all_logs(result.run_id)]
    assert result.success
    # A run whose requests fail (the Dagster step would retry it for a minute): the error
    # is recorded in raw.ingestion_runs.error and logged.
    simulator.set_faults(FaultPlan.parse("coingecko:server_error:first=100"))
    try:
        failed = asyncio.run(
            run_ingestion(load_settings(), sources=["coingecko"], endpoints=["global", "markets"])
        )
    finally:
        simulator.set_faults(FaultPlan())
    assert any(e.error for e in failed.endpoints)

    requests = simulator.state.request_log("coingecko")[started:]
    assert requests and all(r["key_sent"] for r in requests)  # the key did travel
    assert any(r["fault"] == "server_error" for r in requests)

    places: dict[str, str] = {
        "python logs": "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records),
        "console": "".join(capfd.readouterr()),
        "dagster event log": "\n".join(events),
    }
    with MongoClient[dict[str, Any]](lake_uri(orch_settings)) as client:
        lake = client[orch_settings.mongo_db]
        places["lake"] = "\n".join(
            json.dumps(doc, default=str)
            for name in lake.list_collection_names()
            for doc in lake[name].find({})
        )
    admin = services.endpoints(orch_settings.postgres_db).postgres_admin_dsn
    with psycopg.connect(with_database(admin, orch_settings.postgres_db)) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            )
        ]
        places["raw.*"] = "\n".join(
            str(row[0])
            for table in tables
            for row in conn.execute(
                sql.SQL("select t::text from raw.{} as t").format(sql.Identifier(table))
            )
        )
        errors = conn.execute(
            "select error from raw.ingestion_runs where source = 'coingecko' and error is not null"
        ).fetchall()
    assert errors, "the failed requests left no error to look at"
    places["raw.ingestion_runs.error"] = "\n".join(str(e[0]) for e in errors)
    if services.external_postgres is None:
        places["postgres server log"] = services.pg.log_file.read_text(errors="replace")
    assert "coingecko" in places["lake"] and "coingecko" in places["dagster event log"]
    leaks = [place for place, text in places.items() if MARKER in text]
    assert leaks == [], f"the API key leaked into: {leaks}"
