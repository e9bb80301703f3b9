"""Alerts reach a webhook (a real local HTTP receiver) and the log: failed runs with their
failed checks, via Dagster's own run-failure sensor evaluation, and stale endpoints once
per violation, by the run clock."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from dagster import DagsterInstance, Definitions, Failure, build_sensor_context, job, op
from netutil import free_port
from pydantic import SecretStr

from ingestion.settings import Settings
from orchestration.alerts import Alert, send_alert
from orchestration.automation import build_alert_sensors
from orchestration.resources import CriptopipeSettings, PostgresResource


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append(
                {"path": self.path, "type": self.headers["Content-Type"], "json": json.loads(body)}
            )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/secret", received
    server.shutdown()


def test_an_alert_is_posted_as_slack_json_and_logged(
    receiver: tuple[str, list[dict[str, Any]]],
    base_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, received = receiver
    settings = base_settings.model_copy(update={"alert_webhook_url": SecretStr(url)})
    with caplog.at_level(logging.ERROR, logger="orchestration.alerts"):
        assert send_alert(settings, Alert("run of x failed", ["run 1", "step y: boom"]))
    (posted,) = received
    assert posted["path"] == "/services/T0/B0/secret"
    assert posted["type"] == "application/json"
    assert posted["json"]["text"] == "criptopipe: run of x failed"
    assert "step y: boom" in posted["json"]["blocks"][1]["text"]["text"]
    assert "ALERT run of x failed" in caplog.text


def test_a_webhook_that_is_down_is_logged_without_its_secret(
    base_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T0/B0/very-secret"
    settings = base_settings.model_copy(update={"alert_webhook_url": SecretStr(url)})
    with caplog.at_level(logging.ERROR, logger="orchestration.alerts"):
        assert not send_alert(settings, Alert("something failed"))
    assert "ALERT something failed" in caplog.text
    assert "could not post the alert" in caplog.text
    assert "very-secret" not in caplog.text


@op
def fetch_prices() -> None:
    raise Failure("binance/klines failed: 503 Service Unavailable")


@job
def failing_ingest() -> None:
    fetch_prices()


def test_the_run_failure_sensor_posts_each_failed_run_once(
    receiver: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = receiver
    monkeypatch.setenv("CRIPTOPIPE_ALERT_WEBHOOK_URL", url)
    sensors = {s.name: s for s in build_alert_sensors()}
    defs = Definitions(jobs=[failing_ingest], sensors=list(sensors.values()))
    config = CriptopipeSettings()
    resources = {"config": config, "postgres": PostgresResource(config=config)}
    with DagsterInstance.ephemeral() as instance:
        sensor = sensors["run_failure_alert"]
        with build_sensor_context(
            instance=instance, definitions=defs, resources=resources
        ) as context:
            cursor = sensor.evaluate_tick(context).cursor  # starts watching from here
        result = failing_ingest.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        for _ in range(2):  # the second evaluation finds nothing new
            with build_sensor_context(
                instance=instance, cursor=cursor, definitions=defs, resources=resources
            ) as context:
                cursor = sensor.evaluate_tick(context).cursor
    (posted,) = received
    text = json.dumps(posted["json"])
    assert "run of failing_ingest failed" in text
    assert result.run_id in text
    assert "503 Service Unavailable" in text


def test_a_stale_endpoint_is_alerted_once_per_violation(
    receiver: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    loader_dsn: str,
) -> None:
    from ingestion.run.stores import ensure_raw_schema

    url, received = receiver
    ensure_raw_schema(settings)
    last_load = datetime(2025, 6, 2, 8, 5, tzinfo=UTC)
    with psycopg.connect(loader_dsn, autocommit=True) as conn:
        conn.execute("delete from raw.ingestion_runs where run_id = 'fresh-check'")
        conn.execute(
            "insert into raw.ingestion_runs (run_id, source, endpoint, started_at,"
            " finished_at, status) values ('fresh-check', 'binance', 'klines', %s, %s,"
            " 'success')",
            (last_load, last_load),
        )
    monkeypatch.setenv("CRIPTOPIPE_ALERT_WEBHOOK_URL", url)
    monkeypatch.setenv("CRIPTOPIPE_POSTGRES_DB", settings.postgres_db)
    sensor = next(s for s in build_alert_sensors() if s.name == "freshness_alert")
    postgres = PostgresResource(config=CriptopipeSettings())
    cursor = None
    stale = "criptopipe: binance/klines is stale"  # (other test data may be stale too)
    # Hourly cadence: fine at 09:30, stale from 10:20 (two periods + 15 min), alerted once.
    alerted = []
    for at in (
        last_load + timedelta(hours=1, minutes=25),
        last_load + timedelta(hours=3),
        last_load + timedelta(hours=4),
    ):
        monkeypatch.setenv("CRIPTOPIPE_NOW", at.isoformat())
        with build_sensor_context(cursor=cursor, resources={"postgres": postgres}) as context:
            result = sensor.evaluate_tick(context)
        cursor = result.cursor
        alerted.append([p["json"]["text"] for p in received].count(stale))
    assert alerted == [0, 1, 1]
    with psycopg.connect(loader_dsn, autocommit=True) as conn:
        conn.execute("delete from raw.ingestion_runs where run_id = 'fresh-check'")
