"""``criptopipe ingest``, ``lake show`` and ``lake replay`` against an out-of-process simulator."""

from __future__ import annotations

import psycopg
from ingestion_support import admin, simulator_env
from typer.testing import CliRunner

from ingestion.settings import Settings
from orchestration.cli import app


def test_ingest_prints_a_summary_and_fails_when_an_endpoint_fails(
    settings: Settings,
    simulator_process: str,
    clean_stores: None,
    loader_dsn: str,
) -> None:
    env = simulator_env(settings, simulator_process)
    runner = CliRunner()
    ok = runner.invoke(app, ["ingest", "--source", "fx", "--source", "fear_greed"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "fx/rates" in ok.output and "fear_greed/fng" in ok.output
    assert "success" in ok.output

    admin(simulator_process, "/_admin/faults", {"spec": "coinbase:server_error:p=1"})
    failed = runner.invoke(
        app,
        [
            "ingest",
            "-s",
            "coinbase",
            "-s",
            "binance",
            "-e",
            "candles",
            "-e",
            "klines",
            "--start",
            "2025-02-27",
            "--end",
            "2025-02-28",
            "--assets",
            "BTC",
        ],
        env=env,
    )
    assert failed.exit_code == 1
    assert "coinbase/candles failed" in failed.output and "HTTP 503" in failed.output
    with psycopg.connect(loader_dsn) as conn:  # what succeeded is loaded all the same
        row = conn.execute("select count(*) from raw.binance__klines").fetchone()
    assert row is not None and row[0] == 2 * 24  # two whole days of 1h candles


def test_lake_show_and_replay(
    settings: Settings,
    simulator_process: str,
    clean_stores: None,
    loader_dsn: str,
) -> None:
    env = simulator_env(settings, simulator_process)
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", "--source", "fx"], env=env).exit_code == 0
    shown = runner.invoke(app, ["lake", "show", "--source", "fx"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "body_sha256" in shown.output and '"rates": {' in shown.output  # pretty-printed
    with psycopg.connect(loader_dsn, autocommit=True) as conn:
        conn.execute("truncate raw.fx__rates")
    replayed = runner.invoke(app, ["lake", "replay", "--source", "fx"], env=env)
    assert replayed.exit_code == 0, replayed.output
    with psycopg.connect(loader_dsn) as conn:
        row = conn.execute("select count(*) from raw.fx__rates").fetchone()
    assert row is not None and row[0] > 0
    missing = runner.invoke(app, ["lake", "show", "--source", "kraken"], env=env)
    assert missing.exit_code == 1
