"""``criptopipe run`` and ``criptopipe demo``: every asset materialized once, in this process."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from orchestration.cli.common import (
    DAY,
    DatabaseOption,
    configure,
    console,
    err_console,
    parse_day,
    services_up,
)
from orchestration.cli.simulation import simulated_apis
from orchestration.cli.ui import dagster_dev_command, dashboard_process, wait_for

if TYPE_CHECKING:
    from ingestion.settings import Settings
    from orchestration.pipeline import RunReport

DEMO_DATABASE = "criptopipe_demo"
DEFAULT_DAYS = 7  # `criptopipe run` without --start
DEMO_DAYS = 90  # the offline demo: enough history for 30-day volatility and correlations


def run(
    start: Annotated[
        date | None,
        typer.Option(
            parser=parse_day,
            metavar=DAY,
            help=f"First day of candles (default: {DEFAULT_DAYS} "
            "days ago, not before CRIPTOPIPE_START_DATE).",
        ),
    ] = None,
    end: Annotated[
        date | None,
        typer.Option(
            parser=parse_day, metavar=DAY, help="Last day of candles, included (default: today)."
        ),
    ] = None,
    simulator: Annotated[
        bool, typer.Option("--simulator", help="Serve every API from the in-process simulator.")
    ] = False,
    simulator_url: Annotated[
        str | None,
        typer.Option(help="Use a running simulator (criptopipe simulator) at this root URL."),
    ] = None,
    database: DatabaseOption = None,
    all_checks: Annotated[
        bool, typer.Option("--all-checks", help="Name every passed check, not only a count.")
    ] = False,
) -> None:
    """Materialize every asset once, in this process: ingestion, dbt build, checks.

    Candles and incremental marts cover the days --start … --end in one run (a single-run
    backfill). Prints a table per asset and per check; exits non-zero if anything failed.
    """
    with simulated_apis(serve=simulator, url=simulator_url) as base_urls:
        settings = configure(database, base_urls)
        first, last = day_range(settings, start, end)
        services_up(settings)
        started = time.monotonic()
        console.print(
            f"running every asset: candles {first} … {last}; warehouse "
            f"[bold]{settings.postgres_db}[/bold], lake [bold]{settings.mongo_db}[/bold]",
            highlight=False,
        )
        report = run_everything(first, last)
    print_report(report, time.monotonic() - started, verbose_checks=all_checks)
    if not report.ok:
        raise typer.Exit(1)


def day_range(settings: Settings, start: date | None, end: date | None) -> tuple[date, date]:
    """The days a run covers: ``start`` … ``end``, defaulting to the last week up to today.

    Args:
        settings: Whose ``start_date`` bounds the range.
        start: The first day asked for, if any.
        end: The last day asked for (included), if any.

    Returns:
        The first and last day.

    Raises:
        typer.Exit: With code 2 for a range before ``CRIPTOPIPE_START_DATE`` or reversed.
    """
    today = datetime.now(UTC).date()
    last = end or today
    first = start or max(settings.start_date, last - timedelta(days=DEFAULT_DAYS - 1))
    if first < settings.start_date:
        err_console.print(
            f"[red]--start {first} is before CRIPTOPIPE_START_DATE {settings.start_date}[/red]"
        )
        raise typer.Exit(2)
    if first > last:
        err_console.print(f"[red]--start {first} is after --end {last}[/red]")
        raise typer.Exit(2)
    return first, last


def run_everything(first: date, last: date) -> RunReport:
    """Run the job of every asset over the days ``first`` … ``last`` in this process.

    Args:
        first: The first day of candles.
        last: The last day of candles (included).

    Returns:
        What each asset and check did.
    """
    from dagster import DagsterInstance

    from orchestration.automation import ALL_ASSETS_JOB
    from orchestration.definitions import load_definitions
    from orchestration.pipeline import report, run_job

    defs = load_definitions()  # prepares the dbt manifest first (parses if it changed)
    with DagsterInstance.get() as instance:
        result = run_job(defs, ALL_ASSETS_JOB, start=first, end=last, instance=instance)
        return report(result)


def print_report(report: RunReport, seconds: float, verbose_checks: bool = False) -> None:
    """Print a table per asset and per check, the failures and a one-line verdict.

    Args:
        report: What the run did.
        seconds: How long it took.
        verbose_checks: Name every passed check instead of counting them.
    """
    from orchestration.pipeline import CheckOutcome

    table = Table(title=f"assets (run {report.run_id})")
    for column in ("asset", "status", "key figures"):
        table.add_column(column, overflow="fold")
    colours = {"materialized": "green", "failed": "red", "skipped": "yellow"}
    for outcome in report.assets:
        figures = " · ".join(f"{k} {v}" for k, v in outcome.figures.items())
        colour = colours.get(outcome.status, "white")
        table.add_row(outcome.key, f"[{colour}]{outcome.status}[/{colour}]", figures)
    console.print(table)
    checks = Table(title="checks (dbt tests and ingestion accounting)")
    for column in ("asset", "passed", "failed"):
        checks.add_column(column, overflow="fold")
    by_asset: dict[str, list[CheckOutcome]] = {}
    for check in report.checks:
        by_asset.setdefault(check.asset, []).append(check)
    for asset, outcomes in by_asset.items():
        passed = [c for c in outcomes if c.passed]
        failed = [c for c in outcomes if not c.passed]
        checks.add_row(
            asset,
            f"[green]{len(passed)}[/green]"
            if not verbose_checks
            else "\n".join(c.name for c in passed),
            "\n".join(f"[red]{c.name}[/red] ({c.severity.lower()})" for c in failed) or "-",
        )
    console.print(checks)
    for failure in report.failures:
        err_console.print(f"[red]failed:[/red] {failure}", highlight=False)
    passed_count = sum(c.passed for c in report.checks)
    done = sum(a.status == "materialized" for a in report.assets)
    word = "[green]success[/green]" if report.ok else "[red]FAILED[/red]"
    console.print(
        f"{word}: {done}/{len(report.assets)} assets materialized, "
        f"{passed_count}/{len(report.checks)} checks passed in {seconds:.1f} s",
    )


def demo(
    days: Annotated[int, typer.Option(help="Days of candles to load.")] = DEMO_DAYS,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the Dagster UI and the dashboard.")
    ] = True,
    simulator_port: Annotated[int, typer.Option(help="Port of the demo's simulator.")] = 8765,
) -> None:
    """The offline demo: simulator, whole pipeline, then the Dagster UI and the dashboard.

    Data goes to its own databases (criptopipe_demo / lake_demo), never mixed with live data.
    A second run is incremental.
    """
    import subprocess

    from ingestion.settings import PROJECT_ROOT

    with simulated_apis(serve=True, port=simulator_port) as base_urls:
        settings = configure(DEMO_DATABASE, base_urls)
        last = datetime.now(UTC).date()
        first = max(settings.start_date, last - timedelta(days=days - 1))
        services_up(settings)
        started = time.monotonic()
        console.print(
            f"demo: candles {first} … {last} from the simulator into "
            f"{settings.postgres_db} / {settings.mongo_db}",
            highlight=False,
        )
        report = run_everything(first, last)
        print_report(report, time.monotonic() - started)
        if not serve:
            if not report.ok:
                raise typer.Exit(1)
            return
        port = settings.dagster_port
        console.print(f"Dagster UI: http://127.0.0.1:{port}", highlight=False)
        console.print(f"dashboard:  http://127.0.0.1:{settings.dashboard_port}", highlight=False)
        console.print("Ctrl-C stops everything.")
        wait_for(
            [
                subprocess.Popen(dagster_dev_command("127.0.0.1", port), cwd=PROJECT_ROOT),
                dashboard_process(settings),
            ]
        )
