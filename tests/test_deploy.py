"""The config files under deploy/ load and validate against Dagster's own schemas.

- every ``dagster.yaml`` (the one every deployment uses, and the Docker and Kubernetes run
  launcher variants) passes Dagster's instance config validation, the same check an
  instance does at start;
- the launcher variants differ from ``deploy/dagster.yaml`` only by ``run_launcher``, so the
  run queue, the pools and the storage cannot drift between deployments;
- a launcher's own config is validated against its class's schema when its package
  (dagster-docker, dagster-k8s) is installed; the project does not depend on them, so
  otherwise only the instance schema is checked, and the test says so;
- (the multiprocess executor's run config is checked against the project's job in
  tests/orchestration/test_orchestration_deploy.py, which loads the definitions).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingestion.settings import PROJECT_ROOT
from orchestration.instance import env_names

DEPLOY = PROJECT_ROOT / "deploy"
LAUNCHERS = {
    "docker": ("dagster_docker", "DockerRunLauncher"),
    "kubernetes": ("dagster_k8s", "K8sRunLauncher"),
}


def _load(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize("folder", ["", *LAUNCHERS])
def test_instance_config_validates_against_dagsters_schema(folder: str) -> None:
    from dagster._core.instance.config import dagster_instance_config

    config, _ = dagster_instance_config(str(DEPLOY / folder), "dagster.yaml")
    assert "postgres" in config["storage"]
    assert config["concurrency"]["pools"]["default_limit"] == 1


@pytest.mark.parametrize("folder", list(LAUNCHERS))
def test_launcher_variants_only_add_a_run_launcher(folder: str) -> None:
    base = _load(DEPLOY / "dagster.yaml")
    variant = _load(DEPLOY / folder / "dagster.yaml")
    launcher = variant.pop("run_launcher")
    assert variant == base
    module, cls = LAUNCHERS[folder]
    assert (launcher["module"], launcher["class"]) == (module, cls)


def test_docker_run_containers_get_every_variable_the_instance_reads() -> None:
    launcher = _load(DEPLOY / "docker" / "dagster.yaml")["run_launcher"]
    passed = set(launcher["config"]["env_vars"])
    assert env_names(_load(DEPLOY / "dagster.yaml")) | {"DAGSTER_HOME"} <= passed


@pytest.mark.parametrize("folder", list(LAUNCHERS))
def test_launcher_config_validates_against_its_class(folder: str) -> None:
    module_name, cls_name = LAUNCHERS[folder]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        pytest.skip(
            f"{module_name} is not installed (the project does not depend on it): "
            "only the instance schema was checked"
        )
    from dagster._config import validate_config

    launcher = _load(DEPLOY / folder / "dagster.yaml")["run_launcher"]
    result = validate_config(getattr(module, cls_name).config_type(), launcher["config"])
    assert result.success, result.errors
