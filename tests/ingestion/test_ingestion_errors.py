"""Errors people see: a server down, reversed or future dates and out-of-range settings get
one clear line naming what is wrong, a non-zero exit and no traceback, and fast."""

from __future__ import annotations

import time

import psycopg
import pytest
from ingestion_support import SIM_NOW, simulator_env
from netutil import free_port
from typer.testing import CliRunner

from ingestion.settings import Settings
from orchestration.cli import app


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("error:", "bad conf"))]


def test_mongodb_down_records_a_failed_run_and_says_so_in_one_line(
    settings: Settings,
    simulator_process: str,
    clean_stores: None,
    loader_dsn: str,
) -> None:
    port = free_port()  # nothing listens there
    env = simulator_env(
        settings,
        simulator_process,
        CRIPTOPIPE_MONGO_URI=f"mongodb://127.0.0.1:{port}/",
        CRIPTOPIPE_MONGO_SERVER_SELECTION_TIMEOUT_SECONDS="1",
    )
    started = time.monotonic()
    result = CliRunner().invoke(app, ["ingest", "--source", "fx"], env=env)
    assert time.monotonic() - started < 15  # not pymongo's 30 s default
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    (line,) = error_lines(result.output)
    assert f"MongoDB (the lake) at 127.0.0.1:{port} is unreachable" in line
    assert "recorded as failed" in line
    with psycopg.connect(loader_dsn) as conn:
        runs = conn.execute(
            "select source, endpoint, status, error from raw.ingestion_runs"
        ).fetchall()
    assert [(s, e, st) for s, e, st, _ in runs] == [("fx", "rates", "failed")]
    assert "MongoDB (the lake)" in runs[0][3]


def test_postgresql_down_says_so_in_one_line(
    settings: Settings,
    simulator_process: str,
) -> None:
    port = free_port()
    env = simulator_env(
        settings,
        simulator_process,
        CRIPTOPIPE_POSTGRES_DSN=f"postgresql://nobody:x@127.0.0.1:{port}/nowhere",
    )
    result = CliRunner().invoke(app, ["ingest", "--source", "fx"], env=env)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = error_lines(result.output)
    assert f"PostgreSQL at 127.0.0.1:{port}/" in line and "unreachable" in line
    assert ":x@" not in line  # never the password


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--start", "2025-02-10", "--end", "2025-02-01"],
            "--start 2025-02-10 is after --end 2025-02-01",
        ),
        (["--start", "2025-03-05"], "--start 2025-03-05 is in the future (today is 2025-03-01"),
    ],
    ids=["reversed", "future"],
)
def test_reversed_or_future_dates_are_refused(
    settings: Settings,
    args: list[str],
    message: str,
) -> None:
    env = simulator_env(settings, "http://127.0.0.1:9", CRIPTOPIPE_NOW=SIM_NOW.isoformat())
    result = CliRunner().invoke(app, ["ingest", "--source", "fx", *args], env=env)
    assert result.exit_code == 2 and message in result.output, result.output


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CRIPTOPIPE_HTTP_TIMEOUT_SECONDS", "-1", "greater than 0"),
        ("CRIPTOPIPE_HTTP_MAX_RETRIES", "-2", "greater than or equal to 0"),
        ("CRIPTOPIPE_HTTP_BACKOFF_BASE_SECONDS", "-0.5", "greater than or equal to 0"),
        ("CRIPTOPIPE_HTTP_RATE_LIMITS", '{"binance": -5}', "0 (no limit) or more"),
        ("CRIPTOPIPE_POSTGRES_CONNECT_TIMEOUT_SECONDS", "0", "greater than 0"),
        ("CRIPTOPIPE_MONGO_SOCKET_TIMEOUT_SECONDS", "-3", "greater than 0"),
        ("CRIPTOPIPE_HTTP_MAX_BODY_BYTES", "0", "greater than 0"),
    ],
)
def test_out_of_range_settings_are_refused_naming_the_variable(
    settings: Settings,
    variable: str,
    value: str,
    message: str,
) -> None:
    env = simulator_env(settings, "http://127.0.0.1:9", **{variable: value})
    result = CliRunner().invoke(app, ["ingest", "--source", "fx"], env=env)
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result.output)
    assert line.startswith(f"bad configuration: {variable}=") and message in line, line
