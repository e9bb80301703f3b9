"""Ingestion throughput: simulator → HTTP → lake (MongoDB) + raw (PostgreSQL), end to end.

One year of hourly candles for 10 assets on the four exchanges (Binance, Coinbase, Kraken,
Mercado Bitcoin; Kraken serves only its last 720, and an exchange that does not list an
asset is skipped), landed with ``run_ingestion``; then the very same rows loaded into
PostgreSQL with nothing but COPY (text, then binary), as the ceiling. Prints the rates and
their ratio, the CPU each process spent during the run (pipeline, its parse process,
simulator, PostgreSQL, MongoDB), the sources' own pace (fetch and parse only) and the
simulator's alone (a fresh simulator process, bodies read and dropped). Run it at
``nice -n -5`` on a shared machine.

    uv run python benchmarks/bench_ingestion.py [--days 365] [--assets BTC,ETH,...]

Uses its own databases (``criptopipe_bench`` / ``lake_bench``), dropped and recreated.
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from psycopg import sql
from pymongo import MongoClient

from ingestion.connectors.base import PlanContext
from ingestion.connectors.registry import select
from ingestion.http import SESSION_HEADERS, HttpClient
from ingestion.raw_tables import get_table
from ingestion.run.ingest import run_ingestion
from ingestion.run.pipeline import FULL_PAGE, QUEUE_DEPTH
from ingestion.run.results import RunSummary
from ingestion.run.stores import resolve_stores
from ingestion.services import Services, postgres
from ingestion.settings import SOURCES, Settings, load_settings
from ingestion.simulator import simulator_base_urls
from ingestion.simulator.resolved import sim_assets
from ingestion.sinks.lake import DECOMPRESS, MAX_QUEUED_BYTES, compressed_field

NOW = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
ASSETS = "BTC,ETH,SOL,XRP,ADA,DOGE,LTC,LINK,DOT,USDC"
CANDLE_TABLES = ("binance__klines", "coinbase__candles", "kraken__ohlc", "mercadobitcoin__candles")


def cpu_seconds(pid: int | None) -> float:
    """CPU seconds (user + system) of process ``pid``, its live children and its reaped ones.

    For PostgreSQL's postmaster that is every backend, those that ended included; 0 for a
    process that is not there (an external server: its CPU is not measured here).
    """
    if pid is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")

    def fields(p: int) -> list[str]:
        try:
            with open(f"/proc/{p}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()
        except OSError:
            return []

    own = fields(pid)
    if not own:
        return 0.0
    total = sum(int(v) for v in own[11:15])  # utime, stime, cutime, cstime
    with contextlib.suppress(OSError):
        for child in os.listdir("/proc"):
            if child.isdigit() and (f := fields(int(child))) and f[1] == str(pid):
                total += int(f[11]) + int(f[12])
    return total / tick


def lake_files(data_dir: Path, database: str) -> int:
    """Bytes of FerretDB's SQLite files of ``database``, its write-ahead log checkpointed.

    SQLite's log holds pages not yet in the database file and keeps its largest size until
    checkpointed (another process may do so safely): then the file holds everything.
    """
    path = data_dir / f"{database}.sqlite"
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("pragma wal_checkpoint(truncate)").fetchall()
    return sum(p.stat().st_size for p in data_dir.glob(f"{database}.sqlite*"))


def _children_cpu() -> float:
    """CPU seconds of this process's children that ended and were reaped."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def simulator_process(cache_replies: bool = False) -> Iterator[dict[str, str]]:
    """The simulator in its own process, as a remote API would be (its CPU is not ours).

    ``cache_replies``: it serves a repeated request's bytes again without rendering them.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ingestion.simulator",
            "--port",
            str(port),
            "--seed",
            "1",
            *(["--cache-replies"] if cache_replies else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(1200):  # up to a minute: a loaded machine starts it slowly
            try:
                urllib.request.urlopen(root + "/_admin/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        request = urllib.request.Request(
            root + "/_admin/clock",
            data=json.dumps({"now": NOW.isoformat()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5).close()
        urls = simulator_base_urls(root)
        urls["_pid"] = str(process.pid)
        yield urls
    finally:
        process.kill()
        process.wait()


MODES = {
    "live": "the simulator renders every page in the timed window",
    "prerendered": "pages rendered before the timed window, served as the same bytes",
}


@dataclass
class TimedRun:
    """One timed run of the pipeline and what it cost."""

    mode: str
    summary: RunSummary
    elapsed: float
    cpu: dict[str, float]  # CPU seconds by process during the run
    loop_cpu: float  # of the pipeline's: its event loop's thread (its lake thread aside)
    load: tuple[float, float]  # 1-minute load average before and after
    bodies: set[str]  # body_sha256 of every lake document

    @property
    def landed(self) -> int:
        """Records the run landed (inserted, updated or unchanged)."""
        s = self.summary
        return s.total("inserted") + s.total("updated") + s.total("unchanged")


async def timed_run(
    base: Settings, services: Services, assets: list[str], days: int, mode: str
) -> tuple[TimedRun, Settings]:
    """Empty databases, a simulator of its own, then ``run_ingestion`` timed.

    ``prerendered``: every page is requested once before the clock starts (bodies dropped)
    from a simulator that keeps its replies, so the run is served the same bytes without
    the simulator rendering them in the window, as a remote API's CPU is not the
    pipeline's. ``live``: the simulator renders each page when it is asked for it.
    """
    admin = services.postgres_admin_dsn()
    postgres.drop_database(admin, "criptopipe_bench")
    postgres.bootstrap(admin, "criptopipe_bench", base)
    with MongoClient[dict[str, Any]](services.mongo_uri()) as client:
        client.drop_database("lake_bench")
    with simulator_process(cache_replies=mode == "prerendered") as base_urls:
        servers = {
            "simulator": int(base_urls.pop("_pid")),
            "PostgreSQL": None if services.external_postgres else services.pg.pid(),
            "MongoDB": None if services.external_mongo else services.mongo.pid(),
        }
        settings = base.model_copy(
            update={
                **{f"{s}_base_url": base_urls[s] for s in SOURCES},
                "postgres_db": "criptopipe_bench",
                "mongo_db": "lake_bench",
                "http_rate_limits": {s: 0 for s in SOURCES},
                "candle_intervals": ("1h",),
            }
        )
        if mode == "prerendered":
            await serve_only(settings, assets, days)  # not timed
        load_before = os.getloadavg()
        server_cpu = {name: cpu_seconds(pid) for name, pid in servers.items()}
        children_before = _children_cpu()
        started, cpu_started = time.perf_counter(), time.process_time()
        loop_started = time.thread_time()  # this thread runs the event loop: the run's own
        summary = await run_ingestion(
            settings,
            sources=["binance", "coinbase", "kraken", "mercadobitcoin"],
            endpoints=["klines", "candles", "ohlc"],
            assets=assets,
            start=NOW - timedelta(days=days),
            end=NOW,
            now=NOW,
        )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        loop_cpu = time.thread_time() - loop_started
        time.sleep(1)  # (not timed) ended backends are reaped: their CPU is then counted
        # the run's parse process, a child of this one that ended (and was reaped) with it
        spent = {"pipeline": cpu, "parse process": _children_cpu() - children_before}
        spent.update({n: cpu_seconds(pid) - server_cpu[n] for n, pid in servers.items()})
        load_after = os.getloadavg()
    with MongoClient[dict[str, Any]](services.mongo_uri()) as client:
        bodies = {d["body_sha256"] for d in client["lake_bench"]["responses"].find({})}
    return TimedRun(
        mode, summary, elapsed, spent, loop_cpu, (load_before[0], load_after[0]), bodies
    ), settings


async def main(days: int, assets: list[str], modes: list[str]) -> None:
    base = load_settings()
    services = Services(base)
    services.up()
    runs: list[TimedRun] = []
    for mode in modes:
        run, settings = await timed_run(base, services, assets, days, mode)
        runs.append(run)
    # Peak resident memory of this process (the pipeline; the simulator is another one)
    # so far: the runs above are all it has done beyond start-up. Linux reports KiB.
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    with simulator_process() as fresh_urls:  # a new simulator: nothing rendered yet
        fresh_pid = int(fresh_urls.pop("_pid"))
        fresh = settings.model_copy(update={f"{s}_base_url": fresh_urls[s] for s in SOURCES})
        fetch_seconds, fetch_records = await fetch_only(fresh, assets, days)
    with simulator_process() as fresh_urls:
        fresh_pid = int(fresh_urls.pop("_pid"))
        fresh = settings.model_copy(update={f"{s}_base_url": fresh_urls[s] for s in SOURCES})
        serve_cpu = cpu_seconds(fresh_pid)
        serve_seconds, serve_bytes = await serve_only(fresh, assets, days)
        serve_cpu = cpu_seconds(fresh_pid) - serve_cpu

    summary = runs[-1].summary
    print(f"run {summary.run_id}: {len(assets)} assets, {days} days of 1h candles")
    for e in summary.endpoints:
        print(
            f"  {e.name:<24} {e.status:<8} requests {e.requests:>5}  records {e.fetched:>7}"
            f"  lake docs {e.lake_documents:>5}  {e.elapsed:6.2f}s"
        )
        for note in e.notes[:2]:
            print(f"    note: {note}")

    pg_pid = None if services.external_postgres else services.pg.pid()
    dsn = resolve_stores(settings).loader_dsn
    pg_before = cpu_seconds(pg_pid)
    copy_rows, copy_seconds = await bare_copy(dsn)
    time.sleep(1)
    copy_pg_cpu = cpu_seconds(pg_pid) - pg_before
    pg_before = cpu_seconds(pg_pid)
    _, binary_seconds = await bare_copy(dsn, binary=True)
    time.sleep(1)
    binary_pg_cpu = cpu_seconds(pg_pid) - pg_before
    binary_rate = copy_rows / binary_seconds
    copy_rate = copy_rows / copy_seconds
    print()
    for run in runs:
        rate = run.landed / run.elapsed
        print(
            f"end to end, {run.mode} ({MODES[run.mode]}): {run.landed} records in "
            f"{run.elapsed:.2f}s = {rate:,.0f} records/s; ratio {rate / copy_rate:.2f} of the "
            f"COPY ({rate / binary_rate:.2f} of the binary COPY); load average "
            f"{run.load[0]:.2f} before, {run.load[1]:.2f} after"
        )
        spent = run.cpu
        print(
            "  CPU seconds during the run, by process: "
            + ", ".join(f"{name} {seconds:.2f}" for name, seconds in spent.items())
            + f"; {sum(spent.values()):.2f} in all = {sum(spent.values()) / run.elapsed:.2f} "
            f"of {os.cpu_count()} CPUs busy over the wall; the pipeline's event loop (its "
            f"critical path) {run.loop_cpu:.2f}, its lake compression threads the rest"
        )
    if len(runs) > 1:
        same = all(r.bodies == runs[0].bodies for r in runs)
        print(f"  every run's lake holds the same bodies (SHA-256): {'yes' if same else 'NO'}")
    print(
        f"bare COPY of the same rows:     {copy_rows:>8} rows    in {copy_seconds:6.2f}s "
        f"= {copy_rate:>9,.0f} rows/s (PostgreSQL CPU {copy_pg_cpu:.2f}s)"
    )
    print(
        f"the same by binary COPY:        {copy_rows:>8} rows    in {binary_seconds:6.2f}s "
        f"= {binary_rate:>9,.0f} rows/s (PostgreSQL CPU {binary_pg_cpu:.2f}s)"
    )
    print(
        f"fetch and parse only (no lake, no raw): {fetch_records:>8} records in "
        f"{fetch_seconds:6.2f}s = {fetch_records / fetch_seconds:>9,.0f} records/s "
        "(the sources' own pace)"
    )
    landed = runs[-1].landed
    print(
        f"the simulator alone (a fresh process, bodies read and dropped): {landed:>8} records "
        f"in {serve_seconds:6.2f}s = {landed / serve_seconds:>9,.0f} records/s, "
        f"{serve_bytes / 1e6:.1f} MB, its CPU {serve_cpu:.2f}s"
    )
    with MongoClient[dict[str, Any]](services.mongo_uri()) as client:
        documents = list(
            client["lake_bench"]["responses"].find(
                {}, {"body": 1, **dict.fromkeys(DECOMPRESS, 1), "body_bytes": 1}
            )
        )
    lake_bytes = sum(d["body_bytes"] for d in documents)
    stored_bytes = sum(len(d.get(compressed_field(d) or "body", "")) for d in documents)
    files = ""
    if not services.external_mongo:
        on_disk = lake_files(base.home / "mongo" / "data", "lake_bench")
        files = (
            f"; FerretDB's files {on_disk / 1e6:.1f} MB, {on_disk / lake_bytes:.2f} of the bodies"
        )
    print(
        f"lake: {summary.total('lake_documents')} documents, {lake_bytes / 1e6:.1f} MB of "
        f"bodies stored in {stored_bytes / 1e6:.1f} MB ({stored_bytes / lake_bytes:.2f}, "
        f"{', '.join(sorted({compressed_field(d) or 'body' for d in documents}))}){files} "
        f"(FerretDB or MongoDB at {services.mongo_uri().split('@')[-1]})"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, load average now {os.getloadavg()[0]:.2f} "
        "(other processes share these CPUs)"
    )
    print(
        f"peak RSS of the pipeline process: {peak_rss_mb:.0f} MiB (bounded queues: "
        f"{QUEUE_DEPTH} pages of up to {FULL_PAGE:,} records per endpoint, "
        f"{MAX_QUEUED_BYTES >> 20} MiB of lake bodies)"
    )


async def fetch_only(settings: Any, assets: list[str], days: int) -> tuple[float, int]:
    """The same requests through the same client and parsers, stored nowhere."""
    specs = select(
        ["binance", "coinbase", "kraken", "mercadobitcoin"], ["klines", "candles", "ohlc"]
    )
    ctx = PlanContext(settings, sim_assets(*assets), NOW, NOW - timedelta(days=days), NOW, {})
    started = time.perf_counter()
    async with HttpClient(settings) as http:

        async def one(spec: Any, request: Any) -> int:
            response = await http.get_json(spec.source, spec.endpoint, request.path, request.params)
            return len(
                spec.parse(request.path, request.params, response.data, response.fetched_at).records
            )

        counts = await asyncio.gather(*(one(spec, r) for spec in specs for r in spec.plan(ctx)))
    return time.perf_counter() - started, sum(counts)


async def serve_only(settings: Any, assets: list[str], days: int) -> tuple[float, int]:
    """The same requests, their bodies read and dropped: what the simulator alone serves."""
    specs = select(
        ["binance", "coinbase", "kraken", "mercadobitcoin"], ["klines", "candles", "ohlc"]
    )
    ctx = PlanContext(settings, sim_assets(*assets), NOW, NOW - timedelta(days=days), NOW, {})
    requests = [(spec, r) for spec in specs for r in spec.plan(ctx)]
    gate = asyncio.Semaphore(32)
    started = time.perf_counter()
    # the pipeline's own headers: the simulator keeps a reply under its request's headers
    async with aiohttp.ClientSession(headers=SESSION_HEADERS) as session:

        async def one(spec: Any, request: Any) -> int:
            url = settings.base_url(spec.source) + request.path
            async with gate, session.get(url, params=request.params) as response:
                return len(await response.read())

        sizes = await asyncio.gather(*(one(spec, r) for spec, r in requests))
    return time.perf_counter() - started, sum(sizes)


async def bare_copy(dsn: str, binary: bool = False) -> tuple[int, float]:
    """The ceiling: the rows the run landed, already in COPY format, sent by COPY alone.

    The rows are taken out with ``COPY … TO STDOUT`` first (not timed); the timed part is
    only ``COPY … FROM STDIN`` into fresh tables shaped like the raw ones (same keys). In
    text format by default; ``binary``: PostgreSQL's binary format (what the loader sends).
    """
    payloads: dict[str, bytes] = {}
    total = 0
    fmt = sql.SQL(" (format binary)" if binary else "")
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for name in CANDLE_TABLES:
            chunks: list[bytes] = []
            async with (
                conn.cursor() as cur,
                cur.copy(
                    sql.SQL("copy {} to stdout{}").format(sql.Identifier("raw", name), fmt)
                ) as copy,
            ):
                async for data in copy:
                    chunks.append(bytes(data))
            payloads[name] = b"".join(chunks)
            count = await conn.execute(
                sql.SQL("select count(*) from {}").format(sql.Identifier("raw", name))
            )
            total += (await count.fetchone() or (0,))[0]
        started = time.perf_counter()
        for name, payload in payloads.items():
            target = sql.Identifier("raw", f"bench_copy_{name}")
            await conn.execute(sql.SQL("drop table if exists {}").format(target))
            await conn.execute(
                sql.SQL("create table {} (like {} including all)").format(
                    target, sql.Identifier("raw", get_table(*name.split("__")).name)
                )
            )
            async with (
                conn.cursor() as cur,
                cur.copy(sql.SQL("copy {} from stdin{}").format(target, fmt)) as copy,
            ):
                for offset in range(0, len(payload), 1 << 20):
                    await copy.write(payload[offset : offset + (1 << 20)])
        seconds = time.perf_counter() - started
        for name in payloads:
            await conn.execute(
                sql.SQL("drop table {}").format(sql.Identifier("raw", f"bench_copy_{name}"))
            )
    return total, seconds


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--assets", default=ASSETS)
    parser.add_argument(
        "--serve",
        choices=[*MODES, "both"],
        default="both",
        help="live: the simulator renders each page in the timed window; prerendered: pages "
        "rendered before it (the same bytes); both (default): one run of each, live first",
    )
    args = parser.parse_args()
    modes = list(MODES) if args.serve == "both" else [args.serve]
    asyncio.run(main(args.days, [a.strip() for a in args.assets.split(",") if a.strip()], modes))
