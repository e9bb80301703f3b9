"""The ``criptopipe`` command line.

Subcommands import their heavy modules lazily, so ``criptopipe --help`` is instant.
"""

from __future__ import annotations

import csv
import logging
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ingestion.settings import Settings, lake_database_for, load_settings

app = typer.Typer(
    help="criptopipe: a local-first crypto market-data warehouse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
services_app = typer.Typer(
    help="Start, stop and inspect the local PostgreSQL and MongoDB.", no_args_is_help=True
)
app.add_typer(services_app, name="services")

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
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


@app.command("compose-secrets")
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


# --- ingestion ----------------------------------------------------------------------------
lake_app = typer.Typer(
    help="Look into the lake (every API response, verbatim) and replay it.", no_args_is_help=True
)
app.add_typer(lake_app, name="lake")


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        err_console.print(f"[red]{option} must be a date like 2024-01-31, got {value!r}[/red]")
        raise typer.Exit(2) from err


@app.command("ingest")
def ingest(
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Source to ingest (repeatable).")
    ] = None,
    endpoint: Annotated[
        list[str] | None,
        typer.Option("--endpoint", "-e", help="Endpoint name, e.g. klines (repeatable)."),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Backfill from this day (YYYY-MM-DD, UTC).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Backfill up to and including this day (default: now).")
    ] = None,
    assets: Annotated[
        str | None, typer.Option(help="Comma-separated assets (default CRIPTOPIPE_ASSETS).")
    ] = None,
) -> None:
    """Fetch from the APIs into the lake and raw.*; incremental unless --start is given."""
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ingestion.clock import clock_for
    from ingestion.http import IngestionError
    from ingestion.run.ingest import run_ingestion
    from ingestion.run.results import ProgressEvent

    settings = _settings()
    start_day, end_day = _parse_day(start, "--start"), _parse_day(end, "--end")
    if end_day is not None and start_day is None:
        err_console.print("[red]--end needs --start[/red]")
        raise typer.Exit(2)
    today = clock_for(settings)().date()
    if start_day is not None and end_day is not None and start_day > end_day:
        err_console.print(f"[red]--start {start_day} is after --end {end_day}[/red]")
        raise typer.Exit(2)
    if start_day is not None and start_day > today:
        err_console.print(f"[red]--start {start_day} is in the future (today is {today} UTC)[/red]")
        raise typer.Exit(2)
    asset_list = [a.strip() for a in assets.split(",") if a.strip()] if assets else None
    progress = Progress(
        TextColumn("[bold]{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("requests · {task.fields[records]} records"),
        TimeElapsedColumn(),
        console=err_console,
        disable=start_day is None,
    )
    totals: dict[str, dict[str, tuple[int, int, int]]] = {}
    task_ids: dict[str, Any] = {}

    def on_progress(event: ProgressEvent) -> None:
        per_source = totals.setdefault(event.source, {})
        per_source[event.endpoint] = (event.requests_done, event.requests_total, event.records)
        done = sum(v[0] for v in per_source.values())
        total = sum(v[1] for v in per_source.values())
        records = sum(v[2] for v in per_source.values())
        if event.source not in task_ids:
            task_ids[event.source] = progress.add_task(event.source, total=total, records=0)
        progress.update(task_ids[event.source], completed=done, total=total, records=records)

    try:
        with progress:
            summary = asyncio.run(
                run_ingestion(
                    settings,
                    sources=source,
                    endpoints=endpoint,
                    start=start_day,
                    end=end_day,
                    assets=asset_list,
                    progress=on_progress,
                )
            )
    except ValueError as err:  # unknown source, endpoint or asset
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    except IngestionError as err:  # a server down: one line, no traceback
        err_console.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from err
    _print_summary(summary)
    if not summary.ok:
        raise typer.Exit(1)


def _print_summary(summary: Any) -> None:
    table = Table(title=f"run {summary.run_id}")
    columns = (
        "endpoint",
        "status",
        "req",
        "retry",
        "fetched",
        "new",
        "upd",
        "same",
        "quar",
        "lake",
        "s",
    )
    for column in columns:
        left = column in ("endpoint", "status")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    table.caption = (
        "req/retry: HTTP requests and retries; new/upd/same/quar: records inserted, "
        "updated, unchanged, quarantined; lake: new lake documents"
    )
    colours = {"success": "green", "partial": "yellow", "failed": "red"}
    for e in summary.endpoints:
        table.add_row(
            e.name,
            f"[{colours.get(e.status, 'white')}]{e.status}[/]",
            str(e.requests),
            str(e.retries),
            str(e.fetched),
            str(e.inserted),
            str(e.updated),
            str(e.unchanged),
            str(e.quarantined),
            str(e.lake_documents),
            f"{e.elapsed:.1f}",
        )
    # Piped output gets 80 columns by default: too few for the numbers.
    wide = console if console.width >= 110 else Console(width=110)
    wide.print(table)
    for e in summary.endpoints:
        for note in e.notes:
            console.print(f"[dim]{e.name}: {note}[/dim]", highlight=False, soft_wrap=True)
    for e in summary.endpoints:
        if e.error:
            err_console.print(
                f"[red]{e.name} {e.status}:[/red] {e.error}", highlight=False, soft_wrap=True
            )


@lake_app.command("show")
def lake_show(
    source: Annotated[str | None, typer.Option(help="Source of the response.")] = None,
    endpoint: Annotated[str | None, typer.Option(help="Endpoint of the response.")] = None,
    document_id: Annotated[
        str | None, typer.Option("--id", help="Document id (default: the newest match).")
    ] = None,
) -> None:
    """Print one lake document (the newest matching one) with its body pretty-printed."""
    import asyncio
    import json as jsonlib

    from ingestion.run.stores import open_lake

    async def fetch() -> dict[str, Any] | None:
        async with open_lake(_settings()) as lake:
            if document_id:
                return await lake.get(document_id)
            return await lake.latest(source=source, endpoint=endpoint)

    try:
        document = asyncio.run(fetch())
    except Exception as err:  # bad id, server down
        err_console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from err
    if document is None:
        err_console.print("no matching document in lake.responses")
        raise typer.Exit(1)
    body = document.pop("body", "")
    exact = document.pop("body_exact", None)
    if exact is not None:  # kept byte for byte; the text view replaced what is not UTF-8
        document["body_exact"] = (
            f"{len(exact)} bytes, not valid UTF-8 (the body below "
            "shows them with replacement characters)"
        )
    meta = Table(show_header=False, box=None)
    for key, value in document.items():
        meta.add_row(f"[bold]{key}[/bold]", str(value))
    console.print(meta)
    try:
        console.print_json(jsonlib.dumps(jsonlib.loads(body)))
    except ValueError:
        console.print(body, markup=False, highlight=False)


@lake_app.command("replay")
def lake_replay(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only responses fetched on or after this day.")
    ] = None,
) -> None:
    """Rebuild raw.* from the lake without calling any API."""
    import asyncio

    from ingestion.http import IngestionError
    from ingestion.run.replay import replay_from_lake

    try:
        summary = asyncio.run(replay_from_lake(_settings(), source, _parse_day(since, "--since")))
    except IngestionError as err:  # a server down: one line, no traceback
        err_console.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from err
    _print_summary(summary)
    if not summary.ok:
        raise typer.Exit(1)


# --- backup and restore -----------------------------------------------------------------
BackupDatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Warehouse database (default CRIPTOPIPE_POSTGRES_DB); the lake database follows "
        "it (criptopipe_demo → lake_demo).",
    ),
]


def _database_settings(database: str | None) -> Settings:
    if database is None:
        return _settings()
    return _settings(postgres_db=database, mongo_db=lake_database_for(database))


def _progress_printer() -> tuple[Any, Any]:
    """A rich progress display on stderr and the callback that drives it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ingestion.backup import Progress as Step

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

    settings = _database_settings(database)
    display, on_progress = _progress_printer()
    try:
        with display:
            return action(settings, directory, on_progress)
    except BackupError as err:
        err_console.print(f"[red]{verb} failed:[/red] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from err


def _documents(summary: Any) -> str:
    return ", ".join(f"{n} {name}" for name, n in summary.documents.items())


@app.command("backup")
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


@app.command("restore")
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
