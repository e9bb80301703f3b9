"""Minute candles at scale: 20 million 1m candles through the pipeline, next to ~200 k.

For each size, in databases of its own (``criptopipe_scale_<size>`` / ``lake_scale_<size>``,
dropped first): the simulator (its own process, as a remote API) serves 1m candles of the
Binance, Coinbase, Kraken (its last 720 only) and Mercado Bitcoin pairs of 10 assets, plus
their 1h and 1d candles (the hourly and daily marts the dashboard reads), for as many days
as the size needs. Then, and printed:

* the backfill through ``run_ingestion`` in a child process (the run's own time and
  rows/s, the child's wall with its interpreter start, its peak RSS, and the CPU of the
  pipeline, the simulator, PostgreSQL and MongoDB), and a bare ``COPY`` of the very same
  rows right after it (the ceiling). By default (``--serve prerendered``) the simulator
  renders every page of the backfill once before the timed run and serves the same
  bytes again, as ``bench_ingestion.py --serve prerendered`` does: a remote API's CPU is
  not this machine's. ``--serve live`` renders each page when asked, on the same cores;
* disk: raw tables (with indexes) and the lake per candle, the bodies' own size, and
  what the lake stores of them (zstd-compressed bodies; lakes loaded before 2582ff0
  hold zlib or bzip2 ones);
* dbt: the first build of the candle marts (a full refresh), and then one scheduled hour
  (the simulator's clock moves an hour; incremental ingestion + ``dbt build`` of the
  incremental models and their tests, what the hourly job runs), with the incremental
  models' own times;
* ``fct_cross_exchange_spreads_daily`` (incremental by day): a ``--full-refresh``, then two
  plain runs with no new hour (stage ``spreads``);
* the dashboard's pages (Streamlit AppTest, as ``bench_dashboard.py``), cold and warm,
  p50 and p95; what of a page's run is its queries (cold: in the database; warm: reads
  from the query cache), and, apart, the run of an empty page (Streamlit's own share).

It asserts nothing. On this development machine (2 shared cores) the 20 M size takes a
long while; run it in the background::

    nohup uv run python benchmarks/bench_scale.py > bench_scale.log 2>&1 &
    uv run python benchmarks/bench_scale.py --sizes 200000          # the small one alone

Each size runs in stages (``load``, ``dbt``, ``hour``, ``spreads``, ``dashboard``);
``--stages`` picks some, and without ``load`` the databases an earlier run loaded are
reused, so a later stage that failed is re-run alone instead of reloading 20 M candles::

    uv run python benchmarks/bench_scale.py --sizes 20000000 --stages hour,dashboard
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import psycopg  # noqa: E402
from bench_ingestion import (  # noqa: E402
    CANDLE_TABLES,
    cpu_seconds,
    serve_only,
    simulator_process,
)
from bench_peer import set_clock  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from ingestion.run.stores import resolve_stores  # noqa: E402
from ingestion.services import Services, postgres  # noqa: E402
from ingestion.settings import SOURCES, Settings, load_settings  # noqa: E402
from orchestration.dbt_invocations import PARTITION_ENV  # noqa: E402

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

NOW = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
ASSETS = ("BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "LTC", "LINK", "DOT", "USDC")
FULL_SERIES = 29  # 1m series with full history: Binance 10, Coinbase 9, Mercado Bitcoin 10
CANDLE_ENDPOINTS = (
    ["binance", "coinbase", "kraken", "mercadobitcoin"],
    ["klines", "candles", "ohlc"],
)
OTHER_ENDPOINTS = ["fng", "global", "market_chart", "markets", "rates", "ticker", "ticker_24hr"]
OTHER_ENDPOINTS.append("tickers")
DBT_PROJECT = ROOT / "dbt_project"
INCREMENTAL_MODELS = (
    "fct_candles",
    "fct_candle_rollups",
    "fct_candles_hourly",
    "fct_candles_daily",
)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# ------------------------------------------------------------------------ ingestion
def ingest_child(args: dict[str, Any]) -> None:
    """In the child process: one ingestion run; prints its numbers as JSON."""
    from ingestion.run.ingest import run_ingestion

    settings = load_settings(**args["settings"])
    started, cpu = time.perf_counter(), time.process_time()
    summary = asyncio.run(
        run_ingestion(
            settings,
            sources=args.get("sources"),
            endpoints=args.get("endpoints"),
            assets=list(ASSETS),
            start=datetime.fromisoformat(args["start"]) if args.get("start") else None,
            end=datetime.fromisoformat(args["end"]) if args.get("end") else None,
            now=datetime.fromisoformat(args["now"]),
        )
    )
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "cpu": time.process_time() - cpu,
                "landed": summary.total("inserted")
                + summary.total("updated")
                + summary.total("unchanged"),
                "inserted": summary.total("inserted"),
                "failed": [f"{e.name}: {e.error}" for e in summary.failed],
            }
        )
    )


def run_child(args: dict[str, Any]) -> dict[str, Any]:
    """Run :func:`ingest_child` in a child process; its result, wall and peak RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, "--ingest-child", json.dumps(args, default=str)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"ingestion child failed (status {status}):\n{output[-3000:]}")
    result = json.loads(output.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - started
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
    return result


# ------------------------------------------------------------------------------ dbt
def dbt(
    settings: Settings,
    services: Services,
    args: list[str],
    work: Path,
    extra_env: dict[str, str] | None = None,
    *,
    check: bool = False,
) -> float:
    """``dbt`` with ``args`` on the size's database; its wall seconds.

    A failed command prints its errors; with ``check`` it also ends the benchmark, as a
    time of a build that failed is no figure.
    """
    env = {
        **os.environ,
        **services.endpoints(settings.postgres_db).dbt_env(settings),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **(extra_env or {}),
    }
    command = [
        str(Path(sys.executable).with_name("dbt")),
        "--no-use-colors",
        *args,
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        print(f"  dbt {' '.join(args[:3])} … returned {done.returncode}:")
        print(
            "\n".join(
                line for line in done.stdout.splitlines() if "ERROR" in line or "FAIL" in line
            )[-3000:]
        )
        if check:
            raise SystemExit(f"dbt {' '.join(args[:3])} … failed: its time is no figure")
    return seconds


def model_times(work: Path) -> dict[str, float]:
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    return {
        r["unique_id"].split(".")[-1]: float(r["execution_time"])
        for r in results
        if r["unique_id"].startswith("model.")
    }


# ------------------------------------------------------------------------------ disk
def disk(settings: Settings, services: Services, lake_db: str) -> dict[str, float]:
    dsn = resolve_stores(settings).loader_dsn
    with psycopg.connect(dsn) as conn:
        raw_bytes, rows = conn.execute(
            "select sum(pg_total_relation_size(format('raw.%%I', t)::regclass)),"
            " sum((select reltuples from pg_class where oid = format('raw.%%I', t)::regclass))"
            " from unnest(%s::text[]) as t",
            [list(CANDLE_TABLES)],
        ).fetchone()
        mart_bytes = conn.execute(
            "select coalesce(sum(pg_total_relation_size(c.oid)), 0) from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 'marts' and c.relkind = 'r' and c.relname like 'fct_candle%%'"
        ).fetchone()[0]
    client: MongoClient[dict[str, Any]]
    with MongoClient(services.mongo_uri()) as client:
        db = client[lake_db]
        [totals] = list(
            db["responses"].aggregate(
                [{"$group": {"_id": None, "bodies": {"$sum": "$body_bytes"}}}]
            )
        ) or [{"bodies": 0}]
        totals["n"] = db["responses"].count_documents({})
        stats = db.command("dbStats")
    data_dir = settings.home / "mongo" / "data"
    # SQLite's write-ahead log holds pages not yet in the database file and keeps its largest
    # size until checkpointed: checkpoint it (SQLite lets another process do so safely), so
    # the file holds everything; what a busy server leaves in the log is reported apart.
    import sqlite3

    database = data_dir / f"{lake_db}.sqlite"
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("pragma wal_checkpoint(truncate)").fetchall()
    lake_files = sum(p.stat().st_size for p in data_dir.glob(f"{lake_db}.sqlite*"))
    wal = data_dir / f"{lake_db}.sqlite-wal"
    lake_wal = wal.stat().st_size if wal.exists() else 0
    return {
        "raw_bytes": float(raw_bytes or 0),
        "raw_rows": float(rows or 0),
        "mart_bytes": float(mart_bytes or 0),
        "body_bytes": float(totals["bodies"]),
        "documents": float(totals["n"]),
        "lake_storage": float(stats.get("storageSize") or 0) + float(stats.get("indexSize") or 0),
        "lake_files": float(lake_files),
        "lake_wal": float(lake_wal),
    }


# ------------------------------------------------------------------------ dashboard
def _trace_points(trace: dict[str, Any]) -> int:
    """How many points one plotly trace sends (plain lists, or plotly's typed arrays)."""
    import base64

    import numpy as np

    points = 0
    for key in ("x", "y", "open", "close", "z"):
        value = trace.get(key)
        if isinstance(value, dict) and "bdata" in value:
            count = len(base64.b64decode(value["bdata"])) // np.dtype(value["dtype"]).itemsize
        elif isinstance(value, list):
            count = len(value)
        else:
            continue
        points = max(points, count)
    return points


DASHBOARD_VIEWS = {
    # view: (page, dates: "all" = whole history, "default" = the sidebar's default, or days)
    "market_overview": ("market_overview", "all"),
    "asset": ("asset", "all"),
    "asset 1m, 3 days": ("asset", 3),
    "cross_exchange": ("cross_exchange", "all"),
    "risk": ("risk", "all"),
    "data_health": ("data_health", "all"),
}


def _measured(
    at: AppTest,
    query_ms: list[float],
    into: list[float],
    points: list[int],
    reads_ms: list[float],
    reads_into: list[float],
) -> None:
    """After a timed page run: its queries' time in the database, the time its reads took
    (the database's, or the query cache's when warm), and its traces' points."""
    into.append(sum(query_ms))
    reads_into.append(sum(reads_ms))
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        points.extend(_trace_points(trace) for trace in spec.get("data", []))


def _timed(function: Any, into: list[float]) -> Any:
    """``function``, appending the milliseconds of each call to ``into``."""

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            into.append((time.perf_counter() - started) * 1000)

    return timed


def empty_page(runs: int) -> list[float]:
    """The AppTest run of a page that only draws a title, ``runs`` times (ms): Streamlit's
    own script-run cost, which every page pays whatever it reads."""
    from streamlit.testing.v1 import AppTest

    timings = []
    for _ in range(runs + 1):
        at = AppTest.from_string("import streamlit as st\nst.title('empty')")
        at.run()  # the first run of a fresh AppTest, as time_page's router run
        started = time.perf_counter()
        at.run()
        timings.append((time.perf_counter() - started) * 1000)
    return timings[1:]


def dashboard(
    database: str, runs: int
) -> list[tuple[str, float, float, float, float, float, float, int]]:
    """Every page through AppTest, cold and warm: the page's wall, its queries' own time in
    the database (cold runs), its reads' time when warm (the query cache: copies of cached
    frames) and the most points any chart trace sends."""
    os.environ["CRIPTOPIPE_POSTGRES_DB"] = database
    from bench_dashboard import time_page

    from dashboard import data
    from dashboard.data import health as health_queries
    from dashboard.data import market as market_queries
    from dashboard.data import warehouse

    query_ms: list[float] = []
    reads_ms: list[float] = []
    frame = warehouse._frame
    read_market, read_health = market_queries.read_market, health_queries.read_health
    warehouse._frame = _timed(frame, query_ms)  # type: ignore[assignment]
    market_queries.read_market = _timed(read_market, reads_ms)  # type: ignore[assignment]
    health_queries.read_health = _timed(read_health, reads_ms)  # type: ignore[assignment]

    def before() -> None:
        query_ms.clear()
        reads_ms.clear()

    data.clear_cache()
    span = data.data_date_range()
    rows = []
    for view, (page, dates) in DASHBOARD_VIEWS.items():
        timings: dict[bool, list[float]] = {}
        queries: dict[bool, list[float]] = {True: [], False: []}
        reads: dict[bool, list[float]] = {True: [], False: []}
        points: list[int] = [0]

        window, state = None, {}
        if span and isinstance(dates, int):
            window = (max(span[0], span[1] - timedelta(days=dates - 1)), span[1])
            state = {"asset.interval": "1m"}
        try:
            for cold in (True, False):
                timings[cold] = time_page(
                    page,
                    runs,
                    cold=cold,
                    whole_history=dates == "all",
                    dates=window,
                    state=state,
                    before=before,
                    after=partial(
                        _measured,
                        query_ms=query_ms,
                        into=queries[cold],
                        points=points,
                        reads_ms=reads_ms,
                        reads_into=reads[cold],
                    ),
                    timeout=300,
                )
        except RuntimeError as err:  # a page that fails is reported, the others still run
            print(f"{view}: failed: {err}", flush=True)
            continue
        rows.append(
            (
                view,
                statistics.median(timings[True]),
                _percentile(timings[True], 0.95),
                statistics.median(timings[False]),
                _percentile(timings[False], 0.95),
                _percentile(queries[True], 0.95),
                _percentile(reads[False], 0.95),
                max(points),
            )
        )
    warehouse._frame = frame  # type: ignore[assignment]
    market_queries.read_market = read_market  # type: ignore[assignment]
    health_queries.read_health = read_health  # type: ignore[assignment]
    return rows


# ----------------------------------------------------------------------------- size
# load: fresh databases, the other endpoints and the backfill; others: the other endpoints
# alone again (a size loaded by an older version lacks what a newer one's marts read)
STAGES = ("load", "others", "disk", "dbt", "hour", "spreads", "dashboard")


def size_tag(size: int) -> str:
    """``200k`` / ``20m``: the suffix of the size's databases."""
    return f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}m"


def bare_copy_by_table(dsn: str) -> tuple[int, float]:
    """As :func:`bench_ingestion.bare_copy`, one table at a time (20 M rows do not sit in
    memory at once): each table's rows are taken out by ``COPY … TO`` (not timed), then only
    the ``COPY … FROM`` into a fresh table shaped like the raw one is timed."""
    from psycopg import sql

    from ingestion.raw_tables import get_table

    total, seconds = 0, 0.0
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in CANDLE_TABLES:
            target = sql.Identifier("raw", f"bench_copy_{name}")
            with tempfile.TemporaryFile() as spool:
                with conn.cursor().copy(
                    sql.SQL("copy {} to stdout").format(sql.Identifier("raw", name))
                ) as copy:
                    for data in copy:
                        spool.write(data)
                        total += bytes(data).count(b"\n")
                conn.execute(sql.SQL("drop table if exists {}").format(target))
                conn.execute(
                    sql.SQL("create table {} (like {} including all)").format(
                        target, sql.Identifier("raw", get_table(*name.split("__")).name)
                    )
                )
                spool.seek(0)
                started = time.perf_counter()
                with conn.cursor().copy(sql.SQL("copy {} from stdin").format(target)) as copy:
                    while chunk := spool.read(1 << 20):
                        copy.write(chunk)
                seconds += time.perf_counter() - started
            conn.execute(sql.SQL("drop table {}").format(target))
    return total, seconds


def print_disk(d: dict[str, float]) -> None:
    n = max(d["raw_rows"], 1)
    print(
        f"disk: raw candle tables {d['raw_bytes'] / 1e9:.2f} GB "
        f"({d['raw_bytes'] / n:.0f} B/candle);"
        f" lake {d['documents']:.0f} documents, bodies {d['body_bytes'] / 1e9:.2f} GB "
        f"({d['body_bytes'] / n:.0f} B/candle) stored in {d['lake_files'] / 1e9:.2f} GB of "
        f"FerretDB files ({d['lake_files'] / max(d['body_bytes'], 1):.2f} of the bodies;"
        f" without the {d['lake_wal'] / 1e6:.0f} MB write-ahead log "
        f"{(d['lake_files'] - d['lake_wal']) / max(d['body_bytes'], 1):.2f}); "
        f"dbStats storage+indexes {d['lake_storage'] / 1e9:.2f} GB",
        flush=True,
    )


def others_stage(update: dict[str, Any]) -> None:
    """Every endpoint but the candles once (what the dashboard pages need), not timed."""
    others = run_child({"settings": update, "endpoints": OTHER_ENDPOINTS, "now": NOW.isoformat()})
    print(f"other endpoints (not timed): {others['landed']:,} records", flush=True)


def server_pids(services: Services, sim_pid: int) -> dict[str, int | None]:
    """The processes whose CPU a stage reports: the simulator and the local servers."""
    return {
        "simulator": sim_pid,
        "PostgreSQL": None if services.external_postgres else services.pg.pid(),
        "MongoDB": None if services.external_mongo else services.mongo.pid(),
    }


def load_stage(
    services: Services,
    base: Settings,
    update: dict[str, Any],
    days: int,
    sim_pid: int,
    serve: str,
) -> dict[str, Any]:
    """Fresh databases, then the other endpoints (not timed), the backfill and a bare COPY.

    ``serve``: ``prerendered`` has the simulator render every backfill page once before the
    timed run (not timed) and serve the same bytes again, as a remote API's CPU is not this
    machine's; ``live`` renders each page as it is asked for.
    """
    admin = services.postgres_admin_dsn()
    postgres.drop_database(admin, update["postgres_db"])
    postgres.bootstrap(admin, update["postgres_db"], base)
    client: MongoClient[dict[str, Any]]
    with MongoClient(services.mongo_uri()) as client:
        client.drop_database(update["mongo_db"])
    others_stage(update)
    if serve == "prerendered":
        seconds, body_bytes = asyncio.run(serve_only(load_settings(**update), list(ASSETS), days))
        print(
            f"pages rendered by the simulator before the timed run (not timed): "
            f"{body_bytes / 1e6:,.0f} MB in {seconds:.1f} s",
            flush=True,
        )
    # The backfill: 1m (and 1h, 1d) candles of every exchange.
    pids = server_pids(services, sim_pid)
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    backfill = run_child(
        {
            "settings": update,
            "sources": CANDLE_ENDPOINTS[0],
            "endpoints": CANDLE_ENDPOINTS[1],
            "start": (NOW - timedelta(days=days)).isoformat(),
            "end": NOW.isoformat(),
            "now": NOW.isoformat(),
        }
    )
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    # The run's own time (run_ingestion, from its start to its summary): the child's
    # interpreter start and imports (~3 s) are not the backfill's.
    rate = backfill["landed"] / backfill["seconds"]
    busy = (backfill["cpu"] + sum(cpu.values())) / backfill["seconds"]
    print(
        f"backfill ({serve}): {backfill['landed']:,} candles in {backfill['seconds']:.1f} s = "
        f"{rate:,.0f}/s (the child process {backfill['wall']:.1f} s with its start;"
        f" peak RSS {backfill['peak_rss_mib']:.0f} MiB); CPU s: pipeline {backfill['cpu']:.1f}, "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
        + f" = {busy:.2f} of {os.cpu_count()} CPUs busy; failed: {backfill['failed'] or 'none'}",
        flush=True,
    )
    copy_rows, copy_seconds = bare_copy_by_table(resolve_stores(load_settings(**update)).loader_dsn)
    print(
        f"bare COPY of the same {copy_rows:,} rows: {copy_seconds:.1f} s = "
        f"{copy_rows / copy_seconds:,.0f}/s; ratio {rate / (copy_rows / copy_seconds):.2f}",
        flush=True,
    )
    return {"backfill": backfill, "copy": (copy_rows, copy_seconds), "cpu": cpu}


def dbt_vars(day: Any) -> str:
    return f"{{fx_calendar_end_date: '{day}', current_date_utc: '{day}'}}"


def dbt_stage(settings: Settings, services: Services, work: Path) -> tuple[float, dict[str, float]]:
    """``dbt build --full-refresh``: every model from scratch, and every test."""
    full = dbt(
        settings, services, ["build", "--full-refresh", "--vars", dbt_vars(NOW.date())], work
    )
    times = model_times(work)
    print(
        f"dbt build --full-refresh (every model, tests): {full:.1f} s; candle marts "
        + ", ".join(f"{m} {times.get(m, 0):.1f} s" for m in INCREMENTAL_MODELS),
        flush=True,
    )
    return full, times


SPREADS_DAILY = "fct_cross_exchange_spreads_daily"


def spreads_stage(settings: Settings, services: Services, work: Path) -> dict[str, float]:
    """The daily spreads mart (incremental by day): a ``--full-refresh``, then two plain runs
    (what a build re-aggregates when no hour is new: the lookback's days, after the check of
    every day's number of hours), the model's own times from dbt's run results."""
    times: dict[str, float] = {}
    for label, extra in (("full refresh", ["--full-refresh"]), ("incremental", []), ("again", [])):
        wall = dbt(
            settings,
            services,
            ["run", "--select", SPREADS_DAILY, *extra, "--vars", dbt_vars(NOW.date())],
            work,
        )
        times[label] = model_times(work).get(SPREADS_DAILY, float("nan"))
        print(f"{SPREADS_DAILY} {label}: {times[label]:.2f} s (dbt run {wall:.1f} s)", flush=True)
    return times


def next_hour(settings: Settings) -> datetime:
    """The clock of the next scheduled hour: an hour after the newest hour already landed
    (NOW + 1 h on a fresh load; a re-run of the stage moves on another hour)."""
    with psycopg.connect(resolve_stores(settings).loader_dsn) as conn:
        newest = conn.execute(
            "select max(open_time) from raw.binance__klines where interval = '1m'"
        ).fetchone()[0]
    # the newest 1m candle opens a minute before the run's clock: round, not floor
    done = max(0, round((newest - NOW) / timedelta(hours=1))) if newest else 0
    return NOW + timedelta(hours=done + 1)


def hour_stage(
    settings: Settings, services: Services, update: dict[str, Any], sim_root: str, work: Path
) -> tuple[float, dict[str, Any], float, dict[str, float]]:
    """One scheduled hour: the clock moves, incremental ingestion, incremental dbt + tests."""
    with psycopg.connect(
        services.endpoints(settings.postgres_db).role_dsn("transformer", settings)
    ) as conn:
        built = conn.execute("select to_regclass('marts.fct_candles')").fetchone()
    if built is None or built[0] is None:
        raise SystemExit(
            f"{settings.postgres_db} has no candle marts: run the dbt stage first"
            " (--stages dbt,hour)"
        )
    later = next_hour(settings)
    set_clock(sim_root, later)
    # The hourly job keeps dbt's parse cache from its previous run (orchestration.
    # dbt_invocations): parse once untimed, so the timed build parses partially, as it does.
    parse = dbt(settings, services, ["parse", "--vars", dbt_vars(later.date())], work)
    print(f"dbt parse (the job's cache from its previous run, not timed): {parse:.1f} s")
    started = time.perf_counter()
    hour = run_child(
        {
            "settings": update,
            "sources": CANDLE_ENDPOINTS[0],
            "endpoints": CANDLE_ENDPOINTS[1],
            "now": later.isoformat(),
        }
    )
    # As the hourly schedule runs it: today's daily partition, its window in the environment
    # (orchestration.dbt_invocations.PARTITION_ENV), not a plain build's lookback (which,
    # right after a backfill, re-reads every candle the backfill saw).
    day = datetime.combine(later.date(), datetime.min.time(), UTC)
    window = dict(
        zip(PARTITION_ENV, (day.isoformat(), (day + timedelta(days=1)).isoformat()), strict=True)
    )
    hourly_dbt = dbt(
        settings,
        services,
        ["build", "--select", "tag:partitioned", "--vars", dbt_vars(later.date())],
        work,
        window,
        check=True,
    )
    hour_wall = time.perf_counter() - started
    times = model_times(work)
    print(
        f"one scheduled hour to {later:%Y-%m-%d %H:%M}: {hour_wall:.1f} s (ingestion "
        f"{hour['wall']:.1f} s, {hour['landed']:,} candles; dbt build of the incremental models"
        f" + tests on today's partition {hourly_dbt:.1f} s: "
        + ", ".join(f"{m} {times.get(m, 0):.2f} s" for m in INCREMENTAL_MODELS)
        + ")",
        flush=True,
    )
    return hour_wall, hour, hourly_dbt, times


def bench_size(
    size: int,
    services: Services,
    base: Settings,
    runs: int,
    stages: tuple[str, ...],
    serve: str = "prerendered",
) -> dict[str, Any]:
    """The chosen stages of one size; without ``load`` the size's databases are reused."""
    days = max(1, math.ceil(size / (FULL_SERIES * 1440)))
    tag = size_tag(size)
    database, lake_db = f"criptopipe_scale_{tag}", f"lake_scale_{tag}"
    with psycopg.connect(services.postgres_admin_dsn()) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", [database]).fetchone()
    if "load" not in stages and not exists:
        raise SystemExit(f"{database} does not exist: run the load stage first (--stages load,…)")
    work = Path(tempfile.mkdtemp(prefix=f"bench_scale_{tag}_"))
    out: dict[str, Any] = {"size": size, "days": days}
    print(
        f"\n## {size:,} candles wanted: {days} days of 1m candles, {len(ASSETS)} assets"
        f" (stages: {', '.join(stages)})",
        flush=True,
    )
    update: dict[str, Any] = {
        "postgres_db": database,
        "mongo_db": lake_db,
        "http_rate_limits": {s: 0 for s in SOURCES},
        "candle_intervals": ["1m", "1h", "1d"],
        "assets": list(ASSETS),
        "start_date": (NOW - timedelta(days=days)).date().isoformat(),
    }
    settings = load_settings(**update)
    if {"load", "others", "hour"} & set(stages):
        with simulator_process(cache_replies=serve == "prerendered") as base_urls:
            sim_pid = int(base_urls.pop("_pid"))
            update.update({f"{s}_base_url": base_urls[s] for s in SOURCES})
            settings = load_settings(**update)
            if "load" in stages:
                out.update(load_stage(services, base, update, days, sim_pid, serve))
            elif "others" in stages:
                others_stage(update)
            if "disk" in stages:
                print_disk(disk(settings, services, lake_db))
            if "dbt" in stages:
                out["dbt_full"] = dbt_stage(settings, services, work)
                d = disk(settings, services, lake_db)
                print(f"disk: candle marts {d['mart_bytes'] / 1e9:.2f} GB", flush=True)
            if "hour" in stages:
                sim_root = base_urls["binance"].removesuffix("/binance")
                out["hour"] = hour_stage(settings, services, update, sim_root, work)
    elif "disk" in stages:
        print_disk(disk(settings, services, lake_db))
    if "dbt" in stages and "dbt_full" not in out:
        out["dbt_full"] = dbt_stage(settings, services, work)
        d = disk(settings, services, lake_db)
        print(f"disk: candle marts {d['mart_bytes'] / 1e9:.2f} GB", flush=True)
    if "spreads" in stages:
        out["spreads"] = spreads_stage(settings, services, work)
    if "dashboard" in stages:
        print(
            f"{'page':<18}{'cold p50':>9}{'cold p95':>9}{'warm p50':>9}{'warm p95':>9}"
            f"{'SQL p95':>9}{'reads p95':>10}{'points':>8}  (ms, {runs} runs each; SQL: the"
            " page's queries in the database and into frames, cold; reads: the page's reads"
            " when warm, from the query cache; points: the most of any chart trace)"
        )
        out["dashboard"] = dashboard(database, runs)
        for view, c50, c95, w50, w95, q95, r95, points in out["dashboard"]:
            print(
                f"{view:<18}{c50:>9.0f}{c95:>9.0f}{w50:>9.0f}{w95:>9.0f}{q95:>9.0f}{r95:>10.1f}"
                f"{points:>8,}",
                flush=True,
            )
        empty = empty_page(runs)
        print(
            f"{'(an empty page)':<18}{'':>18}{statistics.median(empty):>9.0f}"
            f"{_percentile(empty, 0.95):>9.0f}  (Streamlit's own AppTest script run: a page"
            " that draws one title)",
            flush=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200000,20000000", help="candles, comma-separated")
    parser.add_argument("--runs", type=int, default=10, help="dashboard runs per page and mode")
    parser.add_argument(
        "--stages",
        default=",".join(STAGES),
        help="comma-separated, of "
        + ", ".join(STAGES)
        + "; without load, the size's databases of an earlier run are reused",
    )
    parser.add_argument(
        "--serve",
        choices=("prerendered", "live"),
        default="prerendered",
        help="prerendered (default): the simulator renders the backfill's pages once before "
        "the timed run and serves the same bytes, as a remote API's CPU is not this "
        "machine's; live: it renders each page when asked, on the same two cores",
    )
    parser.add_argument("--ingest-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ingest_child:
        ingest_child(json.loads(args.ingest_child))
        return
    base = load_settings()
    services = Services(base)
    services.up()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    started = time.perf_counter()
    stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
    if unknown := set(stages) - set(STAGES):
        parser.error(f"unknown stage(s) {', '.join(sorted(unknown))}; use {', '.join(STAGES)}")
    sizes = [int(s) for s in args.sizes.split(",")]
    results = [bench_size(size, services, base, args.runs, stages, args.serve) for size in sizes]
    print(
        f"\nall sizes in {time.perf_counter() - started:.0f} s; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    if len(results) == 2 and all("hour" in r for r in results):
        small, big = results
        print(
            f"one scheduled hour at {big['size']:,} vs {small['size']:,}: "
            f"{big['hour'][0] / small['hour'][0]:.2f}x"
        )


if __name__ == "__main__":
    main()
