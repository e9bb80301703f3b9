"""``criptopipe backup DIR`` and ``criptopipe restore DIR``: the warehouse and the lake."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.progress import Progress

from orchestration.cli.common import console, database_settings, err_console

if TYPE_CHECKING:
    from ingestion.backup import Progress as Step

T = TypeVar("T")

BackupDatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Warehouse database (default CRIPTOPIPE_POSTGRES_DB); the lake database follows "
        "it (criptopipe_demo → lake_demo).",
    ),
]


def _progress_printer() -> tuple[Progress, Callable[[Step], None]]:
    """A rich progress display on stderr and the callback that drives it."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    display = Progress(
        TextColumn("[bold]{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
        console=err_console,
    )
    tasks: dict[str, Any] = {}

    def on_progress(step: Step) -> None:
        if step.stage not in tasks:
            tasks[step.stage] = display.add_task(step.stage, total=step.total, unit=step.unit)
        display.update(tasks[step.stage], completed=step.done, total=step.total)

    return display, on_progress


def _with_progress(verb: str, action: Callable[..., T], database: str | None, directory: Path) -> T:
    """Run ``backup``/``restore`` with a progress display; a ``BackupError`` exits 1."""
    from ingestion.backup import BackupError

    settings = database_settings(database)
    display, on_progress = _progress_printer()
    try:
        with display:
            return action(settings, directory, on_progress)
    except BackupError as err:
        err_console.print(f"[red]{verb} failed:[/red] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from err


def _documents(summary: Any) -> str:
    return ", ".join(f"{n} {name}" for name, n in summary.documents.items())


def backup_command(
    directory: Annotated[
        Path, typer.Argument(help="New (or empty) folder to write the backup into.")
    ],
    database: BackupDatabaseOption = None,
) -> None:
    """Back up the warehouse (pg_dump) and the lake (gzip'd JSON Lines, bodies included).

    The folder gets warehouse.dump, lake/responses.jsonl.gz, lake/quarantine.jsonl.gz,
    dagster.dump with CRIPTOPIPE_DAGSTER_STORAGE=postgres and, written last, manifest.json
    with counts and checksums. `criptopipe restore DIR` brings
    it back into empty servers.
    """
    from ingestion.backup import backup

    summary = _with_progress("backup", backup, database, directory)
    dagster = f", Dagster's storage {summary.dagster_database}" if summary.dagster_database else ""
    console.print(
        f"backup of {summary.warehouse_database} ({summary.warehouse_bytes / 1e6:.1f} MB "
        f"dump) and lake {summary.lake_database} ({_documents(summary)}){dagster} in "
        f"{summary.directory} ({summary.seconds:.1f} s)",
        highlight=False,
        soft_wrap=True,
    )


def restore_command(
    directory: Annotated[Path, typer.Argument(help="A folder `criptopipe backup` wrote.")],
    database: BackupDatabaseOption = None,
) -> None:
    """Restore a backup into an empty warehouse database and an empty lake.

    Checks every file's checksum first; creates the database, roles and schemas as
    `criptopipe services up` does, restores the dump in one transaction, then the lake
    documents and their indexes. Refuses targets that already hold data.
    """
    from ingestion.backup import restore

    summary = _with_progress("restore", restore, database, directory)
    console.print(
        f"restored {directory} into {summary.warehouse_database} and lake "
        f"{summary.lake_database} ({_documents(summary)}) in {summary.seconds:.1f} s. Next: "
        "`criptopipe dbt build` rebuilds the marts; `criptopipe lake replay` loads any lake "
        "responses newer than raw.",
        highlight=False,
        soft_wrap=True,
    )
    for note in summary.notes:
        console.print(f"[dim]{note}[/dim]", highlight=False, soft_wrap=True)
