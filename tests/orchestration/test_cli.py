"""The one ``criptopipe`` CLI: one date parser for every date option, one way to get a
simulator, every command on one app (no database needed)."""

from __future__ import annotations

import json
import urllib.request

import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from orchestration.cli.simulation import simulated_apis

COMMANDS = [
    "compose-secrets",
    "symbols",
    "simulator",
    "ingest",
    "backup",
    "restore",
    "run",
    "ui",
    "dbt",
    "dbt-env",
    "dashboard",
    "demo",
    "services",
    "lake",
    "schedules",
]


def test_every_command_is_on_the_one_app_in_order() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    listed = [
        line.split()[1]
        for line in result.output.splitlines()
        if line.startswith("│ ") and len(line.split()) > 2 and line.split()[1] in COMMANDS
    ]
    assert listed == COMMANDS


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--start", "2024-02-30"],
        ["run", "--end", "yesterday"],
        ["ingest", "--start", "2024-02-30"],
        ["ingest", "--start", "2024-01-01", "--end", "31/01/2024"],
        ["lake", "replay", "--since", "2024-1-1x"],
    ],
    ids=["run-start", "run-end", "ingest-start", "ingest-end", "replay-since"],
)
def test_every_date_option_is_parsed_the_same_way(args: list[str]) -> None:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert "must be a date like 2024-01-31, got" in result.output, result.output


def test_simulated_apis_serves_uses_or_leaves_the_real_apis() -> None:
    with simulated_apis() as none:
        assert none is None
    with simulated_apis(url="http://127.0.0.1:9/") as given:
        assert given is not None and given["binance"].startswith("http://127.0.0.1:9/")
    with simulated_apis(serve=True) as served:
        assert served is not None
        root = served["binance"].split("/")[:3]
        with urllib.request.urlopen("/".join(root) + "/_admin/health", timeout=10) as reply:
            assert reply.status == 200 and json.loads(reply.read())
