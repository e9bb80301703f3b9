"""Dagster on PostgreSQL storage with deploy/dagster.yaml, as docker-compose runs it.

The webserver and the daemon run as two processes on one instance whose runs, events and
schedules live in a PostgreSQL database of its own. A schedule ticks, the daemon puts the
run in the run queue, dequeues it under the tag limits and launches it, the run succeeds,
and the webserver (the other process) reports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from netutil import free_port, wait_until_serving
from psycopg.conninfo import make_conninfo

from ingestion.connectors.registry import sources
from ingestion.services import Services, postgres
from ingestion.services.dagster_storage import bootstrap_dagster_storage
from ingestion.settings import PROJECT_ROOT, Settings
from orchestration.instance import (
    dagster_environment,
    dagster_yaml,
    ensure_dagster_home,
    instance_config,
)

CODE = Path(__file__).resolve().parent / "instance_defs" / "every_minute.py"
BIN = Path(sys.executable).parent


def test_the_instance_config_limits_every_provider_and_has_postgres_storage() -> None:
    config = instance_config()
    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    limited = {entry["key"] for entry in limits}
    assert {f"criptopipe.provider/{s}" for s in sources()} <= limited
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert set(config["storage"]) == {"postgres"}
    # The local SQLite copy is the same file without its storage block.
    import yaml

    local = yaml.safe_load(dagster_yaml("sqlite"))
    assert local == {k: v for k, v in config.items() if k != "storage"}
    assert yaml.safe_load(dagster_yaml("postgres")) == config


def test_ensure_dagster_home_rewrites_its_own_copy_and_leaves_a_users_alone(
    base_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    settings = base_settings.model_copy(update={"dagster_storage": "postgres"})
    (tmp_path / "dagster.yaml").write_text("# Written by criptopipe, an older version\n")
    ensure_dagster_home(settings, export=False)
    assert (tmp_path / "dagster.yaml").read_text() == dagster_yaml("postgres")
    (tmp_path / "dagster.yaml").write_text("telemetry: {enabled: false}\n")  # the user's own
    ensure_dagster_home(settings, export=False)
    assert (tmp_path / "dagster.yaml").read_text() == "telemetry: {enabled: false}\n"


@pytest.fixture(scope="module")
def pg_instance(
    services: Services,
    base_settings: Settings,
    test_db_name: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, str]]:
    """A DAGSTER_HOME with deploy/dagster.yaml on a fresh storage database; its env."""
    settings = base_settings.model_copy(
        update={"dagster_storage": "postgres", "dagster_db": f"{test_db_name}_dagster"}
    )
    admin = services.postgres_admin_dsn()
    postgres.drop_database(admin, settings.dagster_db)
    bootstrap_dagster_storage(admin, settings)
    home = tmp_path_factory.mktemp("dagster_pg_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        ensure_dagster_home(settings, export=False)
    env = {**os.environ, "DAGSTER_HOME": str(home), **dagster_environment(settings)}
    try:
        yield env
    finally:
        postgres.drop_database(admin, settings.dagster_db)


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def _graphql(url: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def _runs(dsn: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        return [
            (r[0], r[1])
            for r in conn.execute(
                "select run_id, status from runs order by create_timestamp"
            ).fetchall()
        ]


@pytest.mark.slow  # waits for the next minute's tick: about 1-2 minutes
def test_a_schedule_tick_runs_through_the_queue_on_postgres_storage(
    pg_instance: dict[str, str], tmp_path: Path
) -> None:
    env = pg_instance
    home = Path(env["DAGSTER_HOME"])
    assert "postgres:" in (home / "dagster.yaml").read_text()
    dsn = make_conninfo(
        host=env["DAGSTER_PG_HOST"],
        port=env["DAGSTER_PG_PORT"],
        dbname=env["DAGSTER_PG_DB"],
        user=env["DAGSTER_PG_USERNAME"],
        password=env["DAGSTER_PG_PASSWORD"],
    )
    port = free_port()
    webserver = _start(
        [str(BIN / "dagster-webserver"), "-f", str(CODE), "-h", "127.0.0.1", "-p", str(port)],
        env,
        tmp_path / "webserver.log",
    )
    daemon = _start(
        [str(BIN / "dagster-daemon"), "run", "-f", str(CODE)], env, tmp_path / "daemon.log"
    )
    try:
        deadline = time.monotonic() + 300  # the next minute's tick, then the run (busy CI)
        finished: list[tuple[str, str]] = []
        while not finished:
            assert daemon.poll() is None and webserver.poll() is None, (
                tmp_path / "daemon.log"
            ).read_text()[-3000:]
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no finished scheduled run within 300 s: {_runs(dsn)}\n"
                    f"{(tmp_path / 'daemon.log').read_text()[-3000:]}"
                )
            time.sleep(2)
            with_tables = _has_runs_table(dsn)
            finished = [
                r
                for r in (_runs(dsn) if with_tables else [])
                if r[1] in ("SUCCESS", "FAILURE", "CANCELED")
            ]
        run_id, status = finished[0]
        assert status == "SUCCESS", (tmp_path / "daemon.log").read_text()[-3000:]
        with psycopg.connect(dsn) as conn:
            events = [
                r[0]
                for r in conn.execute(
                    "select dagster_event_type from event_logs where run_id = %s "
                    "and dagster_event_type is not null order by id",
                    [run_id],
                ).fetchall()
            ]
            tags: dict[str, str] = dict(
                conn.execute(
                    "select key, value from run_tags where run_id = %s", [run_id]
                ).fetchall()
            )
        # Queued by the schedule, started by the queue's daemon (it reports STARTING when
        # it dequeues), then the run itself.
        assert (
            events.index("PIPELINE_ENQUEUED")
            < events.index("PIPELINE_STARTING")
            < events.index("PIPELINE_START")
            < events.index("PIPELINE_SUCCESS")
        ), events
        assert tags["dagster/schedule_name"] == "every_minute"
        assert tags["criptopipe.provider/fx"] == "instance-test"
        # docker-compose's healthcheck of the daemon: its heartbeats are in the storage.
        live = subprocess.run(
            [str(BIN / "dagster-daemon"), "liveness-check"],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert live.returncode == 0 and "Daemon live" in live.stdout, live.stdout + live.stderr
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(f"{url}/server_info", webserver, tmp_path / "webserver.log", 120)
        seen = _graphql(url, f'{{runOrError(runId: "{run_id}") {{ ... on Run {{ status }} }} }}')
        assert seen["data"]["runOrError"]["status"] == "SUCCESS"
    finally:
        _stop(daemon)
        _stop(webserver)


def _has_runs_table(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select to_regclass('public.runs')").fetchone() not in (None, (None,))
