"""``criptopipe services up|down|status`` and ``criptopipe compose-secrets``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orchestration.cli.common import console, err_console, load_cli_settings

if TYPE_CHECKING:
    from ingestion.services import Services

services_app = typer.Typer(
    help="Start, stop and inspect the local PostgreSQL and MongoDB.", no_args_is_help=True
)


@services_app.command("up")
def services_up(
    database: Annotated[
        str | None, typer.Option(help="Database to create (default CRIPTOPIPE_POSTGRES_DB).")
    ] = None,
) -> None:
    """Start PostgreSQL and the MongoDB-protocol server if they are not running (idempotent)."""
    from ingestion.services import ServiceError, Services

    services = Services(load_cli_settings())
    try:
        result = services.up(database)
    except ServiceError as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from err
    for name, word in result.items():
        console.print(f"{name}: {word}")
    print_status(services)


@services_app.command("down")
def services_down() -> None:
    """Stop the servers the project started. Your data stays; external servers are left alone."""
    from ingestion.services import ServiceError, Services

    try:
        result = Services(load_cli_settings()).down()
    except ServiceError as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from err
    for name, word in result.items():
        console.print(f"{name}: {word}")


@services_app.command("status")
def services_status() -> None:
    """Say what runs where: URL, version, data directory, pid."""
    from ingestion.services import Services

    print_status(Services(load_cli_settings()))


def print_status(services: Services) -> None:
    """Print each server's mode, state, URL, version, data directory and pid.

    Args:
        services: The project's services for the current settings.
    """
    pg, mongo = services.status()
    for name, st in (("postgres", pg), ("mongo", mongo)):
        state = "[green]running[/green]" if st.running else "[red]stopped[/red]"
        if st.detail:
            state += f" ({st.detail})"
        console.print(f"[bold]{name}[/bold] ({st.mode}): {state}", highlight=False)
        console.print(f"  url:      {st.url}", highlight=False, soft_wrap=True)
        console.print(f"  version:  {st.version or '-'}", highlight=False)
        console.print(f"  data dir: {st.data_dir or '-'}", highlight=False, soft_wrap=True)
        console.print(f"  pid:      {st.pid or '-'}", highlight=False)


def compose_secrets(
    env_file: Annotated[
        Path, typer.Option("--env-file", help="The env file docker compose reads.")
    ] = Path(".env"),
) -> None:
    """Append random passwords for docker-compose.yml to its env file (only missing ones).

    Existing values are never changed; a new file is created with mode 0600. The values are
    written to the file only, never printed.
    """
    import stat

    from ingestion.services.credentials import add_compose_secrets

    added = add_compose_secrets(env_file)
    console.print(
        f"{env_file}: added {', '.join(added)}"
        if added
        else f"{env_file}: every compose secret is already set",
        highlight=False,
    )
    if stat.S_IMODE(env_file.stat().st_mode) & 0o077:
        err_console.print(
            f"[yellow]warning:[/yellow] {env_file} is readable by other users "
            f"(chmod 600 {env_file})",
            highlight=False,
        )
