"""``criptopipe dbt <args>`` and ``criptopipe dbt-env``: dbt with the project's profile."""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

import typer

from ingestion.settings import PROJECT_ROOT
from orchestration.cli.common import DatabaseOption, configure, executable

if TYPE_CHECKING:
    from ingestion.settings import Settings


def dbt_environment(settings: Settings) -> dict[str, str]:
    """The variables dbt needs: the transformer role's profile values and the project.

    Args:
        settings: Whose warehouse dbt works on.

    Returns:
        ``CRIPTOPIPE_DBT_*``, ``DBT_PROJECT_DIR`` and ``DBT_PROFILES_DIR``.
    """
    from ingestion.services import dbt_env

    return {
        **dbt_env(settings),
        "DBT_PROJECT_DIR": str(PROJECT_ROOT / "dbt_project"),
        "DBT_PROFILES_DIR": str(PROJECT_ROOT / "dbt_project"),
    }


def dbt(ctx: typer.Context, database: DatabaseOption = None) -> None:
    """Run dbt on the warehouse with criptopipe's profile.

    Examples: `criptopipe dbt build`, `criptopipe dbt docs generate`,
    `criptopipe dbt docs serve --port 8080`.

    `criptopipe dbt parse` prepares the manifest the Dagster definitions load (under
    dbt_project/target/dagster; it parses only when the project changed).
    """
    settings = configure(database)
    if ctx.args == ["parse"]:
        from orchestration.cli.ui import prepare_dbt_manifest

        prepare_dbt_manifest(settings)
        return
    env = {**os.environ, **dbt_environment(settings)}
    result = subprocess.run([executable("dbt"), *ctx.args], env=env, cwd=PROJECT_ROOT, check=False)
    raise typer.Exit(result.returncode)


def dbt_env(database: DatabaseOption = None) -> None:
    """Print the environment dbt needs as shell exports.

    `eval "$(criptopipe dbt-env)"`, then plain `dbt build` or `sqlfluff lint` work from any
    directory. (It prints the transformer role's password: it is meant for your shell.)
    """
    import shlex

    settings = configure(database)
    for name, value in dbt_environment(settings).items():
        typer.echo(f"export {name}={shlex.quote(value)}")
