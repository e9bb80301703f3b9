"""criptopipe against a peer (dlt's ``rest_api`` source) and against a bare COPY, same data.

The window: ``--days`` (default 90) of hourly Binance klines for ``--assets`` (default ten
symbols), served by the simulator in its own process, loaded three ways into the same
PostgreSQL:

(a) criptopipe: ``run_ingestion`` restricted to ``binance/klines`` into a fresh database
    (every response kept in the lake too, rows upserted into ``raw.binance__klines``);
(b) dlt 1.x ``rest_api``: one resource per symbol, paginated by ``startTime`` with
    ``limit=1000`` (a ten-line paginator: Binance has no next-page link), each row mapped
    to a dict with its symbol, ``write_disposition="merge"`` on primary key
    (symbol, open_time) — the fair equivalent of our idempotent upsert — and, for
    reference, ``append``; resources ``parallelized`` (dlt's best case), its own database;
(c) bare COPY: the rows (a) landed, taken out once with ``COPY … TO STDOUT`` (not timed),
    then only ``COPY … FROM STDIN`` into a plain table shaped like the raw one (same keys).

Then the dbt incremental cost: the demo history (``criptopipe demo``: 7 days of candles,
the default assets, the four exchanges) and ten times that, each built once; the simulator
clock moves one hour, the candle endpoints are ingested again (incremental), and
``dbt build --select fct_candles_hourly fct_candles_daily`` (models and their tests) is
timed: wall time of the command and the two models' own execution time.

    uv run --group bench python benchmarks/bench_peer.py [--days 90] [--assets BTC,ETH,...]
                                                         [--no-dbt] [--demo-days 7]

Uses its own databases (``criptopipe_bench_peer*``), dropped and recreated. Prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingestion import simulator_process

from ingestion.run.ingest import run_ingestion
from ingestion.run.stores import resolve_stores
from ingestion.services import Services, postgres
from ingestion.settings import PROJECT_ROOT, SOURCES, Settings, load_settings
from ingestion.simulator.resolved import sim_assets

NOW = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)  # the simulator clock (a whole hour)
ASSETS = "BTC,ETH,SOL,XRP,ADA,DOGE,LTC,LINK,DOT,BNB"
HOUR_MS = 3_600_000
KLINES_CAP = 1000
KLINE_FIELDS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trades",
    "taker_base_volume",
    "taker_quote_volume",
    "ignore",
)
DB_OURS = "criptopipe_bench_peer"
DB_DLT = "criptopipe_bench_peer_dlt"
DBT_PROJECT = PROJECT_ROOT / "dbt_project"
CANDLE_SOURCES = ["binance", "coinbase", "kraken", "mercadobitcoin"]
CANDLE_ENDPOINTS = ["klines", "candles", "ohlc"]


def fresh_database(services: Services, name: str, settings: Settings) -> None:
    admin = services.postgres_admin_dsn()
    postgres.drop_database(admin, name)
    postgres.bootstrap(admin, name, settings)
    with MongoClient(services.mongo_uri()) as client:
        client.drop_database(name)


def sim_settings(
    base: Settings, base_urls: dict[str, str], database: str, **update: Any
) -> Settings:
    return base.model_copy(
        update={
            **{f"{s}_base_url": base_urls[s] for s in SOURCES},
            "postgres_db": database,
            "mongo_db": database,
            "http_rate_limits": {s: 0 for s in SOURCES},
            **update,
        }
    )


# ------------------------------------------------------------------- (a) criptopipe
async def load_criptopipe(settings: Settings, assets: list[str], days: int) -> tuple[int, float]:
    started = time.perf_counter()
    summary = await run_ingestion(
        settings,
        sources=["binance"],
        endpoints=["klines"],
        assets=assets,
        start=NOW - timedelta(days=days),
        end=NOW,
        now=NOW,
    )
    seconds = time.perf_counter() - started
    if not summary.ok:
        raise SystemExit(f"criptopipe run failed: {[e.error for e in summary.failed]}")
    return summary.total("inserted"), seconds


# ------------------------------------------------------------------------- (b) dlt
def dlt_source(
    base_url: str, symbols: list[str], start_ms: int, end_ms: int, disposition: str
) -> Any:
    from dlt.sources.helpers.rest_client.paginators import BasePaginator
    from dlt.sources.rest_api import rest_api_source

    class StartTimePaginator(BasePaginator):
        """Binance klines: the next page starts one interval after the last open time."""

        def __init__(self) -> None:
            super().__init__()
            self.next_start: int | None = None

        def update_state(self, response: Any, data: list[Any] | None = None) -> None:
            rows = response.json()
            if len(rows) < KLINES_CAP:
                self._has_next_page = False
            else:
                self.next_start = int(rows[-1][0]) + HOUR_MS
                self._has_next_page = self.next_start <= end_ms

        def update_request(self, request: Any) -> None:
            request.params["startTime"] = self.next_start

    def as_dict(symbol: str) -> Any:
        def convert(row: list[Any]) -> dict[str, Any]:
            return {"symbol": symbol, **dict(zip(KLINE_FIELDS, row, strict=False))}

        return convert

    resources: list[Any] = [
        {
            "name": f"klines_{symbol.lower()}",
            "table_name": "klines",
            "endpoint": {
                "path": "/api/v3/klines",
                "params": {
                    "symbol": symbol,
                    "interval": "1h",
                    "startTime": start_ms,
                    "endTime": end_ms,
                    "limit": KLINES_CAP,
                },
                "paginator": StartTimePaginator(),
                "data_selector": "$",
            },
            "processing_steps": [{"map": as_dict(symbol)}],
        }
        for symbol in symbols
    ]
    defaults: dict[str, Any] = {"write_disposition": disposition, "parallelized": True}
    if disposition == "merge":
        defaults["primary_key"] = ["symbol", "open_time"]
    return rest_api_source(
        {
            "client": {"base_url": base_url},  # type: ignore[typeddict-item]
            "resource_defaults": defaults,
            "resources": resources,
        }
    )


def load_dlt(
    base_url: str, dsn: str, symbols: list[str], days: int, disposition: str
) -> tuple[int, float]:
    import dlt

    start_ms = int((NOW - timedelta(days=days)).timestamp() * 1000)
    end_ms = int(NOW.timestamp() * 1000) - 1
    with tempfile.TemporaryDirectory(prefix="bench-dlt-") as pipelines_dir:
        pipeline = dlt.pipeline(
            pipeline_name=f"bench_peer_{disposition}",
            pipelines_dir=pipelines_dir,
            destination=dlt.destinations.postgres(credentials=dsn),
            dataset_name=f"binance_{disposition}",
        )
        started = time.perf_counter()
        pipeline.run(dlt_source(base_url, symbols, start_ms, end_ms, disposition))
        seconds = time.perf_counter() - started
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            sql.SQL("select count(*) from {}").format(
                sql.Identifier(f"binance_{disposition}", "klines")
            )
        ).fetchone()
    return int(row[0]) if row else 0, seconds


# -------------------------------------------------------------------- (c) bare COPY
def bare_copy(dsn: str) -> tuple[int, float]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        chunks: list[bytes] = []
        with conn.cursor() as cur, cur.copy("copy raw.binance__klines to stdout") as copy:
            for data in copy:
                chunks.append(bytes(data))
        payload = b"".join(chunks)
        conn.execute("drop table if exists raw.bench_peer_copy")
        conn.execute("create table raw.bench_peer_copy (like raw.binance__klines including all)")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("copy raw.bench_peer_copy from stdin") as copy:
            for offset in range(0, len(payload), 1 << 20):
                copy.write(payload[offset : offset + (1 << 20)])
        seconds = time.perf_counter() - started
        conn.execute("drop table raw.bench_peer_copy")
    return payload.count(b"\n"), seconds


# -------------------------------------------------------------- dbt incremental cost
def dbt(services: Services, settings: Settings, args: list[str], work: Path) -> float:
    env = {**os.environ, **services.endpoints(settings.postgres_db).dbt_env(settings)}
    command = [
        str(Path(sys.executable).with_name("dbt")),
        *args,
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        "--vars",
        f"{{fx_calendar_end_date: '{NOW.date().isoformat()}'}}",
    ]
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed:\n{result.stdout[-3000:]}")
    return seconds


def model_seconds(work: Path, models: tuple[str, ...]) -> float:
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    return sum(
        r["execution_time"]
        for r in results
        if r["unique_id"].split(".")[-1] in models and r["unique_id"].startswith("model.")
    )


async def incremental_cost(
    services: Services,
    base: Settings,
    base_urls: dict[str, str],
    sim_root: str,
    days: int,
    label: str,
) -> dict[str, Any]:
    database = f"{DB_OURS}_dbt_{days}d"
    settings = sim_settings(base, base_urls, database, candle_intervals=("1h", "1d"))
    fresh_database(services, database, settings)
    set_clock(sim_root, NOW)
    started = time.perf_counter()
    first = await run_ingestion(
        settings,
        sources=CANDLE_SOURCES,
        endpoints=CANDLE_ENDPOINTS,
        start=NOW - timedelta(days=days),
        end=NOW,
        now=NOW,
    )
    ingest_seconds = time.perf_counter() - started
    work = Path(tempfile.mkdtemp(prefix=f"bench-peer-dbt-{days}d-"))
    full_seconds = dbt(services, settings, ["build"], work)
    later = NOW + timedelta(hours=1)
    set_clock(sim_root, later)
    started = time.perf_counter()
    second = await run_ingestion(
        settings, sources=CANDLE_SOURCES, endpoints=CANDLE_ENDPOINTS, now=later
    )
    hour_ingest_seconds = time.perf_counter() - started
    models = ("fct_candles_hourly", "fct_candles_daily")
    incremental_seconds = dbt(services, settings, ["build", "--select", *models], work)
    transformer = services.endpoints(database).role_dsn("transformer", settings)
    with psycopg.connect(transformer) as conn:
        row = conn.execute("select count(*) from marts.fct_candles_hourly").fetchone()
    return {
        "label": label,
        "days": days,
        "candles_1h": int(row[0]) if row else 0,
        "ingest_s": ingest_seconds,
        "records": first.total("fetched"),
        "full_build_s": full_seconds,
        "hour_records": second.total("fetched"),
        "hour_ingest_s": hour_ingest_seconds,
        "incremental_build_s": incremental_seconds,
        "incremental_models_s": model_seconds(work, models),
    }


def set_clock(root: str, now: datetime) -> None:
    import urllib.request

    request = urllib.request.Request(
        root + "/_admin/clock",
        data=json.dumps({"now": now.isoformat()}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()


# ----------------------------------------------------------------------------- main
async def main(days: int, assets: list[str], with_dbt: bool, demo_days: int) -> None:
    base = load_settings()
    services = Services(base)
    services.up()
    symbols = [s for s in (a.symbol("binance") for a in sim_assets(*assets)) if s]
    with simulator_process() as base_urls:
        sim_root = base_urls["binance"].removesuffix("/binance")

        settings = sim_settings(base, base_urls, DB_OURS, candle_intervals=("1h",))
        fresh_database(services, DB_OURS, settings)
        ours_rows, ours_s = await load_criptopipe(settings, assets, days)
        loader_dsn = resolve_stores(settings).loader_dsn
        copy_rows, copy_s = bare_copy(loader_dsn)

        dlt_figures = {}
        for disposition in ("merge", "append"):
            fresh_database(services, DB_DLT, settings)
            dlt_dsn = postgres.with_database(services.postgres_admin_dsn(), DB_DLT)
            dlt_figures[disposition] = load_dlt(
                base_urls["binance"], dlt_dsn, symbols, days, disposition
            )

        print(
            f"window: {days} days of 1h Binance klines, {len(symbols)} symbols "
            f"({', '.join(symbols)}), simulator in its own process\n"
        )
        rows = [
            ("criptopipe run_ingestion (lake + raw upsert)", ours_rows, ours_s),
            ("dlt rest_api, merge on (symbol, open_time)", *dlt_figures["merge"]),
            ("dlt rest_api, append", *dlt_figures["append"]),
            ("bare COPY of the same rows (ceiling)", copy_rows, copy_s),
        ]
        for name, count, seconds in rows:
            print(f"  {name:<46} {count:>8} rows {seconds:8.2f} s {count / seconds:>10,.0f} rows/s")
        ours_rate = ours_rows / ours_s
        merge_rate = dlt_figures["merge"][0] / dlt_figures["merge"][1]
        append_rate = dlt_figures["append"][0] / dlt_figures["append"][1]
        copy_rate = copy_rows / copy_s
        print()
        print(f"  criptopipe / dlt merge:  {ours_rate / merge_rate:6.2f}x   (goal >= 3x)")
        print(f"  criptopipe / dlt append: {ours_rate / append_rate:6.2f}x")
        print(f"  criptopipe / bare COPY:  {ours_rate / copy_rate:6.2f}x   (goal >= 0.5x)")

        if with_dbt:
            print(
                f"\ndbt incremental cost of one new hour (candle endpoints of the four "
                f"exchanges, {len(base.assets)} assets, 1h + 1d):"
            )
            costs = [
                await incremental_cost(services, base, base_urls, sim_root, d, label)
                for d, label in ((demo_days, "demo"), (demo_days * 10, "10x demo"))
            ]
            for c in costs:
                print(
                    f"  {c['label']:<9} {c['days']:>4} days: {c['candles_1h']:>7} hourly "
                    f"candles; first ingest {c['records']} records {c['ingest_s']:.1f} s, "
                    f"full build {c['full_build_s']:.1f} s; +1h: ingest "
                    f"{c['hour_records']} records {c['hour_ingest_s']:.2f} s, "
                    f"dbt build --select (models + tests) {c['incremental_build_s']:.2f} s, "
                    f"the two models {c['incremental_models_s']:.2f} s"
                )
            small, big = costs
            build_ratio = big["incremental_build_s"] / small["incremental_build_s"]
            models_ratio = big["incremental_models_s"] / small["incremental_models_s"]
            print(
                f"  10x / demo: dbt build --select {build_ratio:.2f}x, "
                f"models alone {models_ratio:.2f}x   (goal <= 2x)"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90, help="days of hourly klines")
    parser.add_argument("--assets", default=ASSETS, help="comma-separated asset ids")
    parser.add_argument(
        "--demo-days",
        type=int,
        default=7,
        help="the demo history for the dbt part (10x is also built)",
    )
    parser.add_argument("--no-dbt", action="store_true", help="skip the dbt incremental part")
    args = parser.parse_args()
    asyncio.run(
        main(
            args.days,
            [a.strip() for a in args.assets.split(",") if a.strip()],
            not args.no_dbt,
            args.demo_days,
        )
    )
