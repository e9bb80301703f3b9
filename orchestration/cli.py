"""The ``criptopipe`` console script: ingestion's commands plus the ones that need Dagster.

``ingestion`` never imports Dagster or Streamlit, so its CLI (services, symbols, simulator,
ingest, lake) lives in ``ingestion.cli``; this module mounts it and adds ``run``, ``ui``,
``dashboard`` and ``demo``. Dagster itself is imported lazily, after the environment
(databases, base URLs, ``DAGSTER_HOME``) is set, because the definitions read it at load.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ingestion.cli import _settings, app, console, err_console
from ingestion.settings import PROJECT_ROOT, Settings, lake_database_for

if TYPE_CHECKING:
    from orchestration.pipeline import RunReport

DEMO_DATABASE = "criptopipe_demo"
DEFAULT_DAYS = 7  # `criptopipe run` without --start
DEMO_DAYS = 90  # the offline demo: enough history for 30-day volatility and correlations

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Warehouse database (e.g. criptopipe_demo); the lake database follows it (lake_demo).",
    ),
]


def _configure(database: str | None, base_urls: dict[str, str] | None = None) -> Settings:
    """Export the choices to the environment (this process and its children read them
    through Settings), then read the settings. A simulator needs no politeness: its base
    URLs come with the client's per-source rate limits turned off."""
    if database:
        os.environ["CRIPTOPIPE_POSTGRES_DB"] = database
        os.environ["CRIPTOPIPE_MONGO_DB"] = lake_database_for(database)
    if base_urls:
        from orchestration.simulator import base_url_env

        os.environ.update(base_url_env(base_urls))
        os.environ["CRIPTOPIPE_HTTP_RATE_LIMITS"] = json.dumps({s: 0 for s in base_urls})
    settings = _settings()
    from orchestration.instance import ensure_dagster_home

    ensure_dagster_home(settings)
    return settings


def _services_up(settings: Settings) -> None:
    from ingestion.services import ServiceError, Services

    try:
        Services(settings).up(settings.postgres_db)
    except ServiceError as err:
        err_console.print(f"[red]services:[/red] {err}")
        raise typer.Exit(1) from err


@contextlib.contextmanager
def _maybe_simulator(enabled: bool, url: str | None) -> Iterator[dict[str, str] | None]:
    if url:
        from ingestion.simulator import simulator_base_urls

        yield simulator_base_urls(url)
        return
    if not enabled:
        yield None
        return
    from orchestration.simulator import background_simulator

    with background_simulator() as sim:
        console.print(f"simulator: serving every API offline on {sim.root}", highlight=False)
        yield sim.base_urls


# --- run ------------------------------------------------------------------------------------
@app.command("run")
def run(
    start: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help=f"First day of candles (default: {DEFAULT_DAYS} "
            "days ago, not before CRIPTOPIPE_START_DATE).",
        ),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last day of candles, included (default: today)."),
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
    with _maybe_simulator(simulator, simulator_url) as base_urls:
        settings = _configure(database, base_urls)
        first, last = _day_range(settings, start, end)
        _services_up(settings)
        started = time.monotonic()
        console.print(
            f"running every asset: candles {first} … {last}; warehouse "
            f"[bold]{settings.postgres_db}[/bold], lake [bold]{settings.mongo_db}[/bold]",
            highlight=False,
        )
        report = _run_everything(first, last)
    _print_report(report, time.monotonic() - started, verbose_checks=all_checks)
    if not report.ok:
        raise typer.Exit(1)


def _day_range(
    settings: Settings, start: datetime | None, end: datetime | None
) -> tuple[date, date]:
    today = datetime.now(UTC).date()
    last = end.date() if end else today
    first = (
        start.date() if start else max(settings.start_date, last - timedelta(days=DEFAULT_DAYS - 1))
    )
    if first < settings.start_date:
        err_console.print(
            f"[red]--start {first} is before CRIPTOPIPE_START_DATE {settings.start_date}[/red]"
        )
        raise typer.Exit(2)
    if first > last:
        err_console.print(f"[red]--start {first} is after --end {last}[/red]")
        raise typer.Exit(2)
    return first, last


def _run_everything(first: date, last: date) -> RunReport:
    from dagster import DagsterInstance

    from orchestration.automation import ALL_ASSETS_JOB
    from orchestration.definitions import defs
    from orchestration.pipeline import report, run_job

    with DagsterInstance.get() as instance:
        result = run_job(defs, ALL_ASSETS_JOB, start=first, end=last, instance=instance)
        return report(result)


def _print_report(report: RunReport, seconds: float, verbose_checks: bool = False) -> None:
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


# --- ui ---------------------------------------------------------------------------------------
def _bin(name: str) -> str:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def dagster_dev_command(host: str, port: int) -> list[str]:
    """``dg dev`` (dagster-dg-cli): Dagster 1.13 marks ``dagster dev`` as superseded by it and
    warns at every start. Given a module, ``dg dev`` starts the same webserver and daemon."""
    return [
        _bin("dg"),
        "dev",
        "--module-name",
        "orchestration.definitions",
        "--host",
        host,
        "--port",
        str(port),
    ]


@app.command("ui")
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
    base_urls = None
    if simulator_url:
        from ingestion.simulator import simulator_base_urls

        base_urls = simulator_base_urls(simulator_url)
    settings = _configure(database, base_urls)
    _services_up(settings)
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
    _wait([subprocess.Popen(dagster_dev_command(host, port), cwd=PROJECT_ROOT)])


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


schedules_app = typer.Typer(
    help="Switch the production schedules and sensors on or off (all start off).",
    no_args_is_help=True,
)
app.add_typer(schedules_app, name="schedules")


def _automation(action: str, database: str | None) -> None:
    from dagster import DagsterInstance

    from orchestration.instance import ensure_dagster_home
    from orchestration.switch import status, switch

    settings = _configure(database)
    ensure_dagster_home(settings)
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


def _wait(processes: list[subprocess.Popen[bytes]]) -> None:
    """Wait for the children; Ctrl-C stops them all."""
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


# --- dbt ---------------------------------------------------------------------------------
def _dbt_environment(settings: Settings) -> dict[str, str]:
    from ingestion.services import dbt_env

    return {
        **dbt_env(settings),
        "DBT_PROJECT_DIR": str(PROJECT_ROOT / "dbt_project"),
        "DBT_PROFILES_DIR": str(PROJECT_ROOT / "dbt_project"),
    }


@app.command(
    "dbt",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def dbt(ctx: typer.Context, database: DatabaseOption = None) -> None:
    """Run dbt on the warehouse with criptopipe's profile.

    Examples: `criptopipe dbt build`, `criptopipe dbt docs generate`,
    `criptopipe dbt docs serve --port 8080`.
    """
    settings = _configure(database)
    env = {**os.environ, **_dbt_environment(settings)}
    result = subprocess.run([_bin("dbt"), *ctx.args], env=env, cwd=PROJECT_ROOT, check=False)
    raise typer.Exit(result.returncode)


@app.command("dbt-env")
def dbt_env(database: DatabaseOption = None) -> None:
    """Print the environment dbt needs as shell exports.

    `eval "$(criptopipe dbt-env)"`, then plain `dbt build` or `sqlfluff lint` work from any
    directory. (It prints the transformer role's password: it is meant for your shell.)
    """
    import shlex

    settings = _configure(database)
    for name, value in _dbt_environment(settings).items():
        typer.echo(f"export {name}={shlex.quote(value)}")


# --- dashboard and demo -----------------------------------------------------------------------
def dashboard_command(settings: Settings, host: str | None = None) -> list[str]:
    """The dashboard's command line; refuses a non-loopback address nothing guards."""
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


def _dashboard_process(settings: Settings, host: str | None = None) -> subprocess.Popen[bytes]:
    """The dashboard server, started with the reader's credentials only."""
    from dashboard.server import reader_environment

    return subprocess.Popen(
        dashboard_command(settings, host), cwd=PROJECT_ROOT, env=reader_environment()
    )


@app.command("dashboard")
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
    settings = _configure(database)
    command = dashboard_command(settings, host)  # refuse an unguarded address before anything
    _services_up(settings)
    address = command[command.index("--server.address") + 1]
    console.print(f"dashboard: http://{address}:{settings.dashboard_port}", highlight=False)
    _wait([_dashboard_process(settings, host)])


@app.command("demo")
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
    from ingestion.simulator import simulator_base_urls

    simulator = subprocess.Popen(
        [_bin("criptopipe"), "simulator", "--port", str(simulator_port)], cwd=PROJECT_ROOT
    )
    root = f"http://127.0.0.1:{simulator_port}"
    try:
        _wait_http(f"{root}/_admin/health", simulator)
        settings = _configure(DEMO_DATABASE, simulator_base_urls(root))
        last = datetime.now(UTC).date()
        first = max(settings.start_date, last - timedelta(days=days - 1))
        _services_up(settings)
        started = time.monotonic()
        console.print(
            f"demo: candles {first} … {last} from the simulator into "
            f"{settings.postgres_db} / {settings.mongo_db}",
            highlight=False,
        )
        report = _run_everything(first, last)
        _print_report(report, time.monotonic() - started)
        if not serve:
            if not report.ok:
                raise typer.Exit(1)
            return
        port = settings.dagster_port
        console.print(f"Dagster UI: http://127.0.0.1:{port}", highlight=False)
        console.print(f"dashboard:  http://127.0.0.1:{settings.dashboard_port}", highlight=False)
        console.print("Ctrl-C stops everything.")
        _wait(
            [
                subprocess.Popen(dagster_dev_command("127.0.0.1", port), cwd=PROJECT_ROOT),
                _dashboard_process(settings),
            ]
        )
    finally:
        if simulator.poll() is None:
            simulator.terminate()
            simulator.wait(10)


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise typer.Exit(1)
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    err_console.print(f"[red]{url} did not answer within {timeout:.0f} s[/red]")
    raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
