"""What every ``criptopipe`` command shares: the consoles, settings, dates and databases.

Nothing here imports Dagster, Streamlit or the ingestion runner at module level, so
``criptopipe --help`` stays instant; each command imports what it needs when it runs.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ingestion.settings import Settings, lake_database_for, load_settings

console = Console()
err_console = Console(stderr=True)


def load_cli_settings(**overrides: object) -> Settings:
    """The settings, or a clear one-line error per bad setting and exit code 2.

    Args:
        **overrides: Settings fields to set instead of what the environment says.

    Returns:
        The validated settings.

    Raises:
        typer.Exit: With code 2 when the configuration is invalid.
    """
    from pydantic import ValidationError

    try:
        return load_settings(**overrides)
    except ValidationError as err:  # one line per setting, named as the user sets it
        for problem in err.errors():
            name = "CRIPTOPIPE_" + "_".join(str(part) for part in problem["loc"][:1]).upper()
            err_console.print(
                f"[red]bad configuration:[/red] {name}={problem.get('input')!s}: {problem['msg']}",
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(2) from err
    except Exception as err:
        err_console.print(f"[red]bad configuration:[/red] {err}", highlight=False)
        raise typer.Exit(2) from err


# --- dates ------------------------------------------------------------------------------------
def parse_day(value: str | date) -> date:
    """A UTC day given as ``YYYY-MM-DD``: the one way every command reads a date option.

    Args:
        value: The option's text (or an already parsed day).

    Returns:
        The day.

    Raises:
        typer.BadParameter: When ``value`` is not such a date (click names the option).
    """
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise typer.BadParameter(f"must be a date like 2024-01-31, got {value!r}") from err


DAY = "<YYYY-MM-DD>"  # the metavar of every date option


# --- databases --------------------------------------------------------------------------------
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Warehouse database (e.g. criptopipe_demo); the lake database follows it (lake_demo).",
    ),
]


def database_settings(database: str | None) -> Settings:
    """The settings, pointed at ``database`` and its lake database when one is given.

    Args:
        database: A warehouse database name (``criptopipe_demo`` → lake ``lake_demo``).

    Returns:
        The settings for that warehouse and lake.
    """
    if database is None:
        return load_cli_settings()
    return load_cli_settings(postgres_db=database, mongo_db=lake_database_for(database))


def configure(database: str | None, base_urls: dict[str, str] | None = None) -> Settings:
    """Export the choices to the environment, then read the settings.

    This process and its children (Dagster's run workers, dbt, the dashboard) read them
    through ``Settings``. A simulator needs no politeness: its base URLs come with the
    client's per-source rate limits turned off. ``DAGSTER_HOME`` is created and exported.

    Args:
        database: The warehouse database to use (its lake database follows), if not the
            configured one.
        base_urls: Base URL per source (a simulator's), if not the configured ones.

    Returns:
        The settings everything started from here will see.
    """
    if database:
        os.environ["CRIPTOPIPE_POSTGRES_DB"] = database
        os.environ["CRIPTOPIPE_MONGO_DB"] = lake_database_for(database)
    if base_urls:
        from orchestration.simulator import base_url_env

        os.environ.update(base_url_env(base_urls))
        os.environ["CRIPTOPIPE_HTTP_RATE_LIMITS"] = json.dumps({s: 0 for s in base_urls})
    settings = load_cli_settings()
    from orchestration.instance import ensure_dagster_home

    ensure_dagster_home(settings)
    return settings


def services_up(settings: Settings) -> None:
    """Start the local PostgreSQL and MongoDB-protocol server for ``settings`` (idempotent).

    Args:
        settings: Whose database to create and whose servers to start.

    Raises:
        typer.Exit: With code 1 when a server cannot be started.
    """
    from ingestion.services import ServiceError, Services

    try:
        Services(settings).up(settings.postgres_db)
    except ServiceError as err:
        err_console.print(f"[red]services:[/red] {err}")
        raise typer.Exit(1) from err


def executable(name: str) -> str:
    """A console script from this environment's bin directory (no need to activate it).

    Args:
        name: The script's name (``dbt``, ``dg``, ``criptopipe``).

    Returns:
        Its path in this environment, else the bare name (found on ``PATH``).
    """
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name
