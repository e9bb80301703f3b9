"""The long-running commands: ``criptopipe ui``, ``schedules on|off|status`` and ``dashboard``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING, Annotated

import typer

from ingestion.settings import PROJECT_ROOT
from orchestration.cli.common import (
    DatabaseOption,
    configure,
    console,
    err_console,
    executable,
    services_up,
)
from orchestration.cli.simulation import simulated_apis

if TYPE_CHECKING:
    from ingestion.settings import Settings

schedules_app = typer.Typer(
    help="Switch the production schedules and sensors on or off (all start off).",
    no_args_is_help=True,
)


def dagster_dev_command(host: str, port: int) -> list[str]:
    """``dg dev`` (dagster-dg-cli) on the project's definitions.

    Dagster 1.13 marks ``dagster dev`` as superseded by it and warns at every start. Given
    a module, ``dg dev`` starts the same webserver and daemon.

    Args:
        host: The address the webserver binds.
        port: The webserver's port.

    Returns:
        The command line.
    """
    return [
        executable("dg"),
        "dev",
        "--module-name",
        "orchestration.definitions",
        "--host",
        host,
        "--port",
        str(port),
    ]


def ui(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="Port (default CRIPTOPIPE_DAGSTER_PORT).")
    ] = None,
    database: DatabaseOption = None,
    simulator_url: Annotated[
        str | None, typer.Option(help="Point every base URL at a running simulator.")
    ] = None,
) -> None:
    """Start the Dagster UI (webserver and daemon) on the project's definitions."""
    with simulated_apis(url=simulator_url) as base_urls:
        settings = configure(database, base_urls)
    services_up(settings)
    prepare_dbt_manifest(settings)
    port = port or settings.dagster_port
    storage = (
        f"PostgreSQL database {settings.dagster_db}"
        if settings.dagster_storage == "postgres"
        else "SQLite"
    )
    console.print(
        f"Dagster UI: http://{host}:{port}  (DAGSTER_HOME={os.environ['DAGSTER_HOME']}, "
        f"storage: {storage})",
        highlight=False,
        soft_wrap=True,
    )
    _say_what_is_switched_on()
    wait_for([subprocess.Popen(dagster_dev_command(host, port), cwd=PROJECT_ROOT)])


def prepare_dbt_manifest(settings: Settings) -> None:
    """Prepare the dbt manifest the definitions load (``dbt parse`` if the project changed).

    Args:
        settings: Whose profile to parse with.

    Raises:
        typer.Exit: With code 1 when ``dbt parse`` fails.
    """
    from orchestration.dbt_assets import prepare_manifest

    try:
        manifest = prepare_manifest(settings=settings)
    except (OSError, RuntimeError) as err:
        err_console.print(f"[red]dbt:[/red] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from err
    console.print(f"dbt manifest: {manifest}", highlight=False, soft_wrap=True)


def _say_what_is_switched_on() -> None:
    from dagster import DagsterInstance

    from orchestration.switch import switched_on

    with DagsterInstance.get() as instance:
        on = switched_on(instance)
    if on:
        console.print(
            f"schedules/sensors on: {', '.join(on)}; every other one is off "
            "(`criptopipe schedules status` lists them)",
            highlight=False,
        )
    else:
        console.print(
            "[yellow]every schedule and sensor is off[/yellow]: nothing runs by "
            "itself until `criptopipe schedules on`",
            highlight=False,
        )


def _automation(action: str, database: str | None) -> None:
    from dagster import DagsterInstance

    from orchestration.switch import status, switch

    prepare_dbt_manifest(configure(database))  # DAGSTER_HOME included
    with DagsterInstance.get() as instance:
        states = status(instance) if action == "status" else switch(instance, action == "on")
    for item in states:
        state = "[green]on[/green]" if item.running else "[red]off[/red]"
        console.print(f"{item.kind:8} {item.name:45} {state}", highlight=False)
    off = [i.name for i in states if not i.running]
    if off:
        console.print(
            f"{len(off)} of {len(states)} off: `criptopipe schedules on` "
            "switches them all on (the `criptopipe ui` daemon runs them)",
            highlight=False,
        )


@schedules_app.command("on")
def schedules_on(database: DatabaseOption = None) -> None:
    """Start every schedule and sensor (production operation)."""
    _automation("on", database)


@schedules_app.command("off")
def schedules_off(database: DatabaseOption = None) -> None:
    """Stop every schedule and sensor."""
    _automation("off", database)


@schedules_app.command("status")
def schedules_status(database: DatabaseOption = None) -> None:
    """Say which schedules and sensors are on and which are off."""
    _automation("status", database)


def wait_for(processes: list[subprocess.Popen[bytes]]) -> None:
    """Wait for the children until one ends; Ctrl-C stops them all.

    Args:
        processes: The child processes started by the command.
    """
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


# --- dashboard ------------------------------------------------------------------------------
def dashboard_command(settings: Settings, host: str | None = None) -> list[str]:
    """The dashboard's command line; refuses a non-loopback address nothing guards.

    Args:
        settings: The dashboard's port, address and guard settings.
        host: The address to bind instead of ``CRIPTOPIPE_DASHBOARD_ADDRESS``.

    Returns:
        The command line.

    Raises:
        typer.Exit: With code 2 for an address nothing guards.
    """
    from dashboard.access import UnguardedBindError, check_bind
    from dashboard.server import command

    address = host or settings.dashboard_address
    try:
        check_bind(address, settings)
    except UnguardedBindError as err:
        from rich.markup import escape

        err_console.print(f"[red]dashboard:[/red] {escape(str(err))}")
        raise typer.Exit(2) from err
    return command(settings.dashboard_port, address=address)


def dashboard_process(settings: Settings, host: str | None = None) -> subprocess.Popen[bytes]:
    """The dashboard server, started with the reader's credentials only.

    Args:
        settings: The dashboard's settings.
        host: The address to bind instead of ``CRIPTOPIPE_DASHBOARD_ADDRESS``.

    Returns:
        The running server process.
    """
    from dashboard.server import reader_environment

    return subprocess.Popen(
        dashboard_command(settings, host), cwd=PROJECT_ROOT, env=reader_environment()
    )


def dashboard(
    database: DatabaseOption = None,
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to bind (default CRIPTOPIPE_DASHBOARD_ADDRESS, 127.0.0.1). "
            "Another address needs CRIPTOPIPE_DASHBOARD_PASSWORD or Streamlit auth."
        ),
    ] = None,
) -> None:
    """Start the Streamlit dashboard (reads the marts with the read-only role)."""
    settings = configure(database)
    command = dashboard_command(settings, host)  # refuse an unguarded address before anything
    services_up(settings)
    address = command[command.index("--server.address") + 1]
    console.print(f"dashboard: http://{address}:{settings.dashboard_port}", highlight=False)
    wait_for([dashboard_process(settings, host)])
