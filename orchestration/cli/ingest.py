"""``criptopipe symbols``, ``ingest`` and ``lake show|replay``: ingestion without Dagster."""

from __future__ import annotations

import csv
import sys
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from orchestration.cli.common import DAY, console, err_console, load_cli_settings, parse_day

if TYPE_CHECKING:
    from ingestion.run.results import RunSummary

lake_app = typer.Typer(
    help="Look into the lake (every API response, verbatim) and replay it.", no_args_is_help=True
)


def symbols(
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh", help="Fetch the listings (and market-cap ranks) first, then resolve."
        ),
    ] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print one CSV row per asset and exchange.")
    ] = False,
) -> None:
    """Show how each configured asset resolves: its symbol on every exchange, or why none.

    Resolves CRIPTOPIPE_ASSETS against the newest listings in the warehouse (what the
    next run will request); nothing is written.
    """
    import asyncio

    from ingestion import asset_symbols
    from ingestion.clock import clock_for
    from ingestion.connections import pg_connect
    from ingestion.resolution import ResolutionError
    from ingestion.run.ingest import resolution_specs, run_ingestion
    from ingestion.run.stores import resolve_stores

    settings = load_cli_settings()

    async def resolve() -> Any:
        if refresh:
            names = [s.name for s in resolution_specs()]
            summary = await run_ingestion(settings, endpoints=names)
            for failed in summary.failed:
                err_console.print(f"[yellow]{failed.name}: {failed.error}[/yellow]")
        async with await pg_connect(settings, resolve_stores(settings).loader_dsn) as conn:
            loaded = await asset_symbols.load_listings(conn)
        if not loaded.loaded:
            return None
        return asset_symbols.resolve_loaded(settings, loaded)

    try:
        resolution = asyncio.run(resolve())
    except ResolutionError as err:
        err_console.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from err
    except (ValueError, OSError) as err:  # no server, bad selection
        err_console.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from err
    if resolution is None:
        err_console.print(
            "[red]error:[/red] no listing is loaded yet: run `criptopipe symbols --refresh` "
            "(or any `criptopipe run`/`ingest`) first",
            highlight=False,
        )
        raise typer.Exit(1)
    rows = asset_symbols.rows_of(resolution, "criptopipe symbols", clock_for(settings)())
    if as_csv:
        fields = [
            c for c in asset_symbols.COLUMNS if c not in ("is_tracked", "resolved_at", "run_id")
        ]
        writer = csv.DictWriter(
            sys.stdout, fieldnames=fields, lineterminator="\n", extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerows(rows)
        return
    table = Table(title="configured assets, resolved from the exchanges' listings")
    for column in ("asset", "CoinGecko id", "name", *(e.name for e in resolution.exchanges)):
        table.add_column(column)
    for asset in resolution.assets:
        cells = []
        for exchange in resolution.exchanges:
            symbol = asset.symbol(exchange.name)
            reason = asset.reason(exchange.name)
            cells.append(symbol if symbol else f"[dim]— {reason}[/dim]")
        name = asset.name + (" (stablecoin)" if asset.is_stablecoin else "")
        table.add_row(asset.asset_id, asset.coingecko_id or "[dim]—[/dim]", name, *cells)
    console.print(table)
    for note in resolution.notes:
        console.print(f"note: {note}", highlight=False)


def ingest(
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Source to ingest (repeatable).")
    ] = None,
    endpoint: Annotated[
        list[str] | None,
        typer.Option("--endpoint", "-e", help="Endpoint name, e.g. klines (repeatable)."),
    ] = None,
    start: Annotated[
        date | None,
        typer.Option(
            parser=parse_day, metavar=DAY, help="Backfill from this day (YYYY-MM-DD, UTC)."
        ),
    ] = None,
    end: Annotated[
        date | None,
        typer.Option(
            parser=parse_day,
            metavar=DAY,
            help="Backfill up to and including this day (default: now).",
        ),
    ] = None,
    assets: Annotated[
        str | None, typer.Option(help="Comma-separated assets (default CRIPTOPIPE_ASSETS).")
    ] = None,
) -> None:
    """Fetch from the APIs into the lake and raw.*; incremental unless --start is given."""
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ingestion.clock import clock_for
    from ingestion.errors import IngestionError
    from ingestion.run.ingest import run_ingestion
    from ingestion.run.results import ProgressEvent

    settings = load_cli_settings()
    if end is not None and start is None:
        err_console.print("[red]--end needs --start[/red]")
        raise typer.Exit(2)
    today = clock_for(settings)().date()
    if start is not None and end is not None and start > end:
        err_console.print(f"[red]--start {start} is after --end {end}[/red]")
        raise typer.Exit(2)
    if start is not None and start > today:
        err_console.print(f"[red]--start {start} is in the future (today is {today} UTC)[/red]")
        raise typer.Exit(2)
    asset_list = [a.strip() for a in assets.split(",") if a.strip()] if assets else None
    progress = Progress(
        TextColumn("[bold]{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("requests · {task.fields[records]} records"),
        TimeElapsedColumn(),
        console=err_console,
        disable=start is None,
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
                    start=start,
                    end=end,
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
    print_summary(summary)
    if not summary.ok:
        raise typer.Exit(1)


def print_summary(summary: RunSummary) -> None:
    """Print a run's table (one row per endpoint), its notes and its errors.

    Args:
        summary: What an ingestion run or a replay did.
    """
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
        async with open_lake(load_cli_settings()) as lake:
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
    from ingestion.sinks.lake import compressed_field, stored_text

    body = stored_text(document)
    document.pop("body", None)
    field = compressed_field(document)
    if field is not None and document.pop(field, None) is not None:
        document[field] = "stored compressed; shown decompressed below"
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
        date | None,
        typer.Option(
            parser=parse_day, metavar=DAY, help="Only responses fetched on or after this day."
        ),
    ] = None,
) -> None:
    """Rebuild raw.* from the lake without calling any API."""
    import asyncio

    from ingestion.errors import IngestionError
    from ingestion.run.replay import replay_from_lake

    try:
        summary = asyncio.run(replay_from_lake(load_cli_settings(), source, since))
    except IngestionError as err:  # a server down: one line, no traceback
        err_console.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from err
    print_summary(summary)
    if not summary.ok:
        raise typer.Exit(1)
