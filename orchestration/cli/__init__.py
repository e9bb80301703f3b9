"""The ``criptopipe`` command line: one Typer app, one entry point (:func:`main`).

Each module holds one group of commands; this one puts them on the app, in the order
``criptopipe --help`` lists them. The CLI lives in ``orchestration`` because some commands
drive Dagster and the dashboard, and ``ingestion`` never imports either. Every command
imports its heavy modules (Dagster, dbt, the ingestion runner) when it runs, so
``criptopipe --help`` loads none of them.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from orchestration.cli import backup, dbt, ingest, pipeline, services, simulation, ui

app = typer.Typer(
    help="criptopipe: a local-first crypto market-data warehouse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO level.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# Ingestion, services and the catalogue: no Dagster involved.
app.add_typer(services.services_app, name="services")
app.command("compose-secrets")(services.compose_secrets)
app.command("symbols")(ingest.symbols)
app.command("simulator")(simulation.simulator)
app.add_typer(ingest.lake_app, name="lake")
app.command("ingest")(ingest.ingest)
app.command("backup")(backup.backup_command)
app.command("restore")(backup.restore_command)
# The pipeline through Dagster, dbt and the dashboard.
app.command("run")(pipeline.run)
app.command("ui")(ui.ui)
app.add_typer(ui.schedules_app, name="schedules")
app.command(
    "dbt",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)(dbt.dbt)
app.command("dbt-env")(dbt.dbt_env)
app.command("dashboard")(ui.dashboard)
app.command("demo")(pipeline.demo)


def main() -> None:
    """Run the ``criptopipe`` console script."""
    app()


__all__ = ["app", "main"]
