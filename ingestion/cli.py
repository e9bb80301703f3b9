"""The ``criptopipe`` command line.

Subcommands import their heavy modules lazily, so ``criptopipe --help`` is instant.
"""

from __future__ import annotations

import csv
import logging
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ingestion.settings import Settings, load_settings

app = typer.Typer(
    help="criptopipe: a local-first crypto market-data warehouse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
services_app = typer.Typer(help="Start, stop and inspect the local PostgreSQL and MongoDB.",
                           no_args_is_help=True)
app.add_typer(services_app, name="services")

console = Console()
err_console = Console(stderr=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except Exception as err:  # pydantic ValidationError: show it plainly
        err_console.print(f"[red]bad configuration:[/red] {err}")
        raise typer.Exit(2) from err


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO level.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# --- services -----------------------------------------------------------------------------
@services_app.command("up")
def services_up(
    database: Annotated[
        str | None, typer.Option(help="Database to create (default CRIPTOPIPE_POSTGRES_DB).")
    ] = None,
) -> None:
    """Start PostgreSQL and the MongoDB-protocol server if they are not running (idempotent)."""
    from ingestion.services import ServiceError, Services

    services = Services(_settings())
    try:
        result = services.up(database)
    except ServiceError as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from err
    for name, word in result.items():
        console.print(f"{name}: {word}")
    _print_status(services)


@services_app.command("down")
def services_down() -> None:
    """Stop the servers the project started. Your data stays; external servers are left alone."""
    from ingestion.services import ServiceError, Services

    try:
        result = Services(_settings()).down()
    except ServiceError as err:
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from err
    for name, word in result.items():
        console.print(f"{name}: {word}")


@services_app.command("status")
def services_status() -> None:
    """Say what runs where: URL, version, data directory, pid."""
    from ingestion.services import Services

    _print_status(Services(_settings()))


def _print_status(services: object) -> None:
    from ingestion.services import Services

    assert isinstance(services, Services)
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


# --- catalogue ------------------------------------------------------------------------------
@app.command("symbols")
def symbols(
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print the dbt seed symbol_map.csv.")
    ] = False,
) -> None:
    """List tracked assets and how each exchange spells them."""
    from ingestion.symbols import symbol_map_rows

    rows = symbol_map_rows()
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    table = Table(title="symbol map")
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*row.values())
    console.print(table)


# --- simulator --------------------------------------------------------------------------------
@app.command("simulator")
def simulator(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Seed of the synthetic markets.")] = 42,
    faults: Annotated[
        str | None, typer.Option(help="Fault plan (see ingestion/simulator docs), e.g. 'chaos'.")
    ] = None,
) -> None:
    """Serve every API offline with real formats (the demo, the tests and the benchmarks use it)."""
    from ingestion.simulator.server import serve

    console.print(f"simulator on http://{host}:{port} (seed {seed}); Ctrl-C stops it")
    serve(port=port, host=host, seed=seed, faults=faults)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
