"""``DAGSTER_HOME``: a folder in the project's local state directory, with a dagster.yaml.

There is one instance configuration, ``deploy/dagster.yaml``: the run queue (at most four
runs; one backfill, one gap repair and one run per API provider at a time), a concurrency
pool per API provider plus ``dbt`` limited to one step at a time across all runs, run
monitoring and tick retention. The Docker image carries it and docker-compose mounts it;
locally :func:`ensure_dagster_home` copies it into ``DAGSTER_HOME`` on every start.

Its ``storage`` block keeps runs, events and schedules in PostgreSQL (dagster-postgres), in
a database of its own. docker-compose always uses it; locally it is an option,
``CRIPTOPIPE_DAGSTER_STORAGE=postgres``, on the same embedded server. Without it the local
copy leaves ``storage`` out and Dagster uses SQLite files under ``DAGSTER_HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]  # PyYAML comes with Dagster

from ingestion.settings import PROJECT_ROOT, Settings

DAGSTER_YAML = PROJECT_ROOT / "deploy" / "dagster.yaml"
HEADER = "# Written by criptopipe from {source} on every start: edit that file, not this copy.\n"
SQLITE_NOTE = (
    "# Storage: SQLite under this folder (CRIPTOPIPE_DAGSTER_STORAGE=postgres for PostgreSQL).\n"
)


def instance_config() -> dict[str, Any]:
    """``deploy/dagster.yaml``, parsed."""
    config: dict[str, Any] = yaml.safe_load(DAGSTER_YAML.read_text())
    return config


def env_names(config: Any) -> set[str]:
    """The environment variables a Dagster config reads (every ``{env: NAME}`` in it)."""
    if isinstance(config, dict):
        if set(config) == {"env"}:
            return {str(config["env"])}
        return set().union(*(env_names(v) for v in config.values()))
    if isinstance(config, list):
        return set().union(*(env_names(v) for v in config))
    return set()


def dagster_yaml(storage: str = "sqlite") -> str:
    """The dagster.yaml of a local ``DAGSTER_HOME`` for ``storage`` ("sqlite" or "postgres").

    With PostgreSQL storage it is ``deploy/dagster.yaml`` as it is; with SQLite, the same
    without its ``storage`` block.
    """
    header = HEADER.format(source=DAGSTER_YAML.relative_to(PROJECT_ROOT))
    if storage == "postgres":
        return header + DAGSTER_YAML.read_text()
    config = {k: v for k, v in instance_config().items() if k != "storage"}
    return header + SQLITE_NOTE + yaml.safe_dump(config, sort_keys=False)


def ensure_dagster_home(settings: Settings, *, export: bool = True) -> Path:
    """Create ``DAGSTER_HOME`` with its dagster.yaml from ``deploy/dagster.yaml``; return it.

    An existing ``DAGSTER_HOME`` variable wins, and a dagster.yaml criptopipe did not write is
    left alone. With ``export``, ``DAGSTER_HOME`` and, with PostgreSQL storage, the
    ``DAGSTER_PG_*`` variables are set for this process and its children.
    """
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text().startswith("# Written by criptopipe"):
        wanted = dagster_yaml(settings.dagster_storage)
        if not config.exists() or config.read_text() != wanted:
            config.write_text(wanted)
    if export:
        os.environ["DAGSTER_HOME"] = str(home)
        os.environ.update(dagster_environment(settings))
    return home


def dagster_environment(settings: Settings) -> dict[str, str]:
    """The variables ``deploy/dagster.yaml`` reads (none with SQLite storage)."""
    if settings.dagster_storage != "postgres":
        return {}
    from ingestion.services.dagster_storage import dagster_pg_env

    return dagster_pg_env(settings)
