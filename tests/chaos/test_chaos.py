"""Chaos: faults, a PostgreSQL restart mid-load and a SIGKILL mid-run change nothing in the end.

Two warehouses are built from the same simulated market (same seed, simulator clock fixed
at ``SIM_NOW``, ``DAYS`` days of 1h and 1d candles for three assets, plus every snapshot
endpoint), on a private pair of servers (PostgreSQL is restarted here, so never the shared
one):

* **A**, the reference: one fault-free ingestion run, then ``dbt build``;
* **B**, the chaos run, against a simulator injecting a seeded fault plan (429 storms,
  5xx, Kraken errors in 200s, timeouts, truncated bodies, Cloudflare HTML pages, schema
  drift, latency):

  1. an ingestion process runs; when its first rows are committed, PostgreSQL is stopped
     and started again under it; the process must finish on its own;
  2. a second ingestion process runs and is killed with SIGKILL once it has committed
     something;
  3. faults off, the pipeline is rerun until a run succeeds; then ``dbt build``.

Then: the deterministic marts of B equal those of A (columns that carry the loader's wall
clock are left out), no natural key is duplicated in ``raw.*`` or in the marts, and every
record the chaos simulator served is in ``raw.*`` (as last served) or in ``raw.quarantine``
with a reason.

Compared loosely: ``raw.kraken__ticker``. Kraken's Ticker carries no timestamp, so its
natural key is the fetch time truncated to the second: every run adds a row per pair, and
B (several runs) holds more rows than A (one run). Only its newest row per pair is checked
against what the simulator served last. No mart reads it. Left out of the mart comparison:
``fct_pipeline_health``, ``fct_ingestion_runs`` and ``fct_quarantine_reasons``, which
describe the runs themselves (B had more runs, retries and quarantined bodies by design).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from netutil import free_port
from psycopg import sql
from pymongo import MongoClient

from ingestion.raw_tables import RAW_TABLES
from ingestion.services import Services, postgres
from ingestion.settings import PROJECT_ROOT, SOURCES, Settings
from ingestion.simulator import simulator_base_urls
from ingestion.simulator.server import DRIFT_FIELD

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(420)]

SIM_NOW = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)  # mid-hour: every 1h series ends open
DAYS = 5
ASSETS = ("BTC", "ETH", "SOL")
SEED = 23
FAULTS = "; ".join(
    [
        "seed=5",
        "binance:rate_limit:first=6,retry_after=1",  # a 429 storm on the first Binance calls
        "coingecko:rate_limit:p=0.3,retry_after=1",
        "kraken:api_error:p=0.1",  # HTTP 200 {"error": ["EService:Unavailable"]}
        "*:server_error:p=0.06",
        "*:server_error:p=0.03,status=502",
        "*:timeout:p=0.04,delay=5",  # longer than the client's 2 s timeout
        "*:html:p=0.04,status=520",  # Cloudflare error page
        "coinbase:html:p=0.05,status=200",  # an HTML page served as a 200
        "*:truncated:p=0.05",
        "*:drift_extra:p=0.06",  # a new field / a new trailing column in every record
        "*:drift_reorder:p=0.06",
        "*:latency:p=0.5,delay=0.4",
    ]
)
# Marts that describe the runs themselves rather than the market.
RUN_MARTS = frozenset(
    {"fct_pipeline_health", "fct_ingestion_runs", "fct_quarantine_reasons", "dbt_run_results"}
)
# Columns that carry the loader's or dbt's wall clock.
CLOCK_COLUMNS = frozenset(
    {
        "fetched_at",
        "first_seen_at",
        "last_seen_at",
        "loaded_at",
        "dbt_scd_id",
        "dbt_updated_at",
        "dbt_valid_from",
        "dbt_valid_to",
        "computed_at",
    }
)
DBT_PROJECT = PROJECT_ROOT / "dbt_project"
# One YAML per mart, in a folder per business area (marts/market, marts/operations).
MARTS_YAMLS = sorted((DBT_PROJECT / "models" / "marts").glob("*/*.yml"))
RUN = """
import asyncio, json, logging, sys
from datetime import datetime
from ingestion.run.ingest import run_ingestion
from ingestion.settings import Settings
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
settings = Settings(**json.loads(sys.argv[1]))
summary = asyncio.run(run_ingestion(settings, now=datetime.fromisoformat(sys.argv[2])))
print(json.dumps({"run_id": summary.run_id,
                  "endpoints": {e.name: [e.status, e.error] for e in summary.endpoints}}))
sys.exit(0 if summary.ok else 1)
"""


# ----------------------------------------------------------------------------- helpers
class Simulator:
    """``python -m ingestion.simulator`` in its own process, driven over /_admin."""

    def __init__(self, faults: str | None) -> None:
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "ingestion.simulator",
            "--port",
            str(self.port),
            "--seed",
            str(SEED),
        ]
        if faults:
            command += ["--faults", faults]
        self.process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(200):
            try:
                self.admin("/_admin/health")
                break
            except OSError:
                time.sleep(0.05)
        self.admin("/_admin/clock", {"now": SIM_NOW.isoformat()})

    def admin(self, path: str, payload: Any | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.root + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def ground_truth(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        listing = self.admin("/_admin/ground_truth")["endpoints"]
        out = {}
        for item in listing:
            query = urllib.parse.urlencode({"source": item["source"], "endpoint": item["endpoint"]})
            out[(item["source"], item["endpoint"])] = self.admin(f"/_admin/ground_truth?{query}")[
                "records"
            ]
        return out

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def private_services(base_settings: Settings) -> Iterator[Services]:
    """A private PostgreSQL + MongoDB-protocol server pair: this test restarts PostgreSQL.

    The state lives in a directory of its own under the system temp dir, not under pytest's
    ``tmp_path``: every pytest session that starts resets ``/tmp/pytest-of-<user>`` to 0700,
    and as root the server runs as another user, who could then no longer stop it.
    """
    home = Path(tempfile.mkdtemp(prefix="criptopipe-chaos-"))
    settings = base_settings.model_copy(
        update={
            "home": home / "state",
            "postgres_port": free_port(),
            "mongo_port": free_port(),
            "postgres_dsn": None,
            "mongo_uri": None,
            "postgres_db": "chaos_a",
        }
    )
    services = Services(settings)
    try:
        services.up()
        yield services
    finally:
        services.down()
        shutil.rmtree(home, ignore_errors=True)


def _run_settings(services: Services, database: str, sim: Simulator) -> dict[str, Any]:
    """Settings of one warehouse, as explicit values (they win over the environment)."""
    settings = services.settings
    return {
        "home": str(settings.home),
        "postgres_port": settings.postgres_port,
        "mongo_port": settings.mongo_port,
        "postgres_dsn": None,
        "mongo_uri": None,
        "postgres_db": database,
        "mongo_db": database,
        **{f"{s}_base_url": url for s, url in simulator_base_urls(sim.root).items()},
        "http_rate_limits": {s: 0 for s in SOURCES},
        "http_timeout_seconds": 2.0,
        "http_max_retries": 4,
        "http_backoff_base_seconds": 0.01,
        "http_backoff_max_seconds": 0.05,
        "assets": list(ASSETS),
        "candle_intervals": ["1h", "1d"],
        "start_date": (SIM_NOW - timedelta(days=DAYS)).date().isoformat(),
        "markets_top_n": 5,
    }


def _ingest_command(run_settings: dict[str, Any]) -> list[str]:
    return [sys.executable, "-c", RUN, json.dumps(run_settings), SIM_NOW.isoformat()]


def _ingest(run_settings: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _ingest_command(run_settings),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _dbt_build(services: Services, database: str, work: Path) -> None:
    env = {**os.environ, **services.endpoints(database).dbt_env(services.settings)}
    dbt = Path(sys.executable).with_name("dbt")
    result = subprocess.run(
        [
            str(dbt),
            "build",
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(work / f"target_{database}"),
            "--log-path",
            str(work / f"logs_{database}"),
            "--vars",
            f"{{fx_calendar_end_date: '{SIM_NOW.date().isoformat()}'}}",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"dbt build of {database} failed:\n{result.stdout[-4000:]}"


def _admin_dsn(services: Services, database: str) -> str:
    return postgres.with_database(services.postgres_admin_dsn(), database)


def _current_xid(dsn: str) -> int:
    """The server's next transaction id: rows written after this have a later ``xmin``.
    (Not a time: runs date their rows by the simulated clock, not the wall clock.)"""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select pg_current_xact_id()::text::bigint").fetchone()
    assert row is not None
    return int(row[0])


def _committed_since(dsn: str, since_xid: int) -> int:
    """Raw rows written or seen (touched) after transaction ``since_xid`` (-1 while
    PostgreSQL is unreachable). A fresh test cluster never wraps its 32-bit xids."""
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            total = 0
            for table in RAW_TABLES:
                if conn.execute("select to_regclass(%s)", [table.qualified_name]).fetchone() == (
                    None,
                ):
                    continue
                row = conn.execute(
                    sql.SQL("select count(*) from {} where xmin::text::bigint > %s").format(
                        sql.Identifier("raw", table.name)
                    ),
                    [since_xid % 2**32],
                ).fetchone()
                total += int(row[0]) if row else 0
            return total
    except psycopg.OperationalError:
        return -1


def _wait_for_commit(dsn: str, since_xid: int, process: subprocess.Popen[str]) -> bool:
    """True once rows were committed after ``since_xid`` while ``process`` still runs."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if _committed_since(dsn, since_xid) > 0:
            return process.poll() is None
        time.sleep(0.02)
    return False


def _rows(conn: psycopg.Connection[Any], schema: str, table: str) -> tuple[list[str], Counter]:
    columns = [
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            [schema, table],
        ).fetchall()
        if r[0] not in CLOCK_COLUMNS
    ]
    query = sql.SQL("select {} from {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(schema, table)
    )
    return columns, Counter(conn.execute(query).fetchall())


def _tables(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select table_name from information_schema.tables "
            "where table_schema = %s and table_type = 'BASE TABLE' order by 1",
            [schema],
        ).fetchall()
    ]


def _mart_keys() -> dict[str, list[list[str]]]:
    """Every unique key the marts declare: primary keys, `unique` columns and combinations."""
    models = [
        model
        for path in MARTS_YAMLS
        for model in yaml.safe_load(path.read_text()).get("models") or []
    ]
    keys: dict[str, list[list[str]]] = {}
    for model in models:
        found = keys.setdefault(model["name"], [])
        for constraint in model.get("constraints") or []:
            if constraint.get("type") == "primary_key":
                found.append(list(constraint["columns"]))
        for test in model.get("data_tests") or []:
            if isinstance(test, dict) and "unique_combination_of_columns" in test:
                spec = test["unique_combination_of_columns"]
                found.append(list((spec.get("arguments") or spec)["combination_of_columns"]))
        for column in model.get("columns") or []:
            if "unique" in (column.get("data_tests") or []):
                found.append([column["name"]])
    return keys


def _duplicates(
    conn: psycopg.Connection[Any], schema: str, table: str, key: list[str]
) -> list[Any]:
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in key)
    query = sql.SQL(
        "select {cols}, count(*) from {t} group by {cols} having count(*) > 1 limit 5"
    ).format(cols=cols, t=sql.Identifier(schema, table))
    return conn.execute(query).fetchall()


# ------------------------------------------------------- ground truth <-> raw.* keys
IV = {"1h": 3600, "1d": 86400}


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    raise TypeError(value)


def _iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# simulator endpoint -> (raw table, truth key -> normalised key, raw key -> normalised key)
KeyMap = tuple[
    str, Callable[[list[Any]], tuple[Any, ...]], Callable[[tuple[Any, ...]], tuple[Any, ...]]
]
KEYS: dict[tuple[str, str], KeyMap] = {
    # the listings (issue #17): one row per symbol, pair, product or coin id
    **{
        (source, endpoint): (table, lambda k: (k[0],), lambda k: (k[0],))
        for source, endpoint, table in (
            ("binance", "/api/v3/exchangeInfo", "binance__exchange_info"),
            ("kraken", "/0/public/AssetPairs", "kraken__asset_pairs"),
            ("coinbase", "/products", "coinbase__products"),
            ("coingecko", "/coins/list", "coingecko__coins_list"),
            ("mercadobitcoin", "/symbols", "mercadobitcoin__symbols"),
        )
    },
    ("binance", "/api/v3/klines"): (
        "binance__klines",
        lambda k: (k[0], IV[k[1]], k[2] / 1000),
        lambda k: (k[0], IV[k[1]], _epoch(k[2])),
    ),
    ("binance", "/api/v3/ticker/24hr"): (
        "binance__ticker_24hr",
        lambda k: (k[0], k[1] / 1000),
        lambda k: (k[0], _epoch(k[1])),
    ),
    ("kraken", "/0/public/OHLC"): (
        "kraken__ohlc",
        lambda k: (k[0], k[1] * 60, float(k[2])),
        lambda k: (k[0], IV[k[1]], _epoch(k[2])),
    ),
    ("coinbase", "/products/{id}/candles"): (
        "coinbase__candles",
        lambda k: (k[0], k[1], float(k[2])),
        lambda k: (k[0], IV[k[1]], _epoch(k[2])),
    ),
    ("coingecko", "/coins/markets"): (
        "coingecko__markets",
        lambda k: (k[0], _iso(k[1])),
        lambda k: (k[0], _epoch(k[2])),
    ),
    ("coingecko", "/coins/{id}/market_chart"): (
        "coingecko__market_chart",
        lambda k: (k[0], k[1], k[2] / 1000),
        lambda k: (k[0], k[1], _epoch(k[2])),
    ),
    ("coingecko", "/global"): (
        "coingecko__global",
        lambda k: (float(k[0]),),
        lambda k: (_epoch(k[0]),),
    ),
    ("fear_greed", "/fng/"): (
        "fear_greed__fng",
        lambda k: (float(k[0]),),
        lambda k: (_epoch(k[0]),),
    ),
    ("mercadobitcoin", "/candles"): (
        "mercadobitcoin__candles",
        lambda k: (k[0], IV[k[1]], float(k[2])),
        lambda k: (k[0], IV[k[1]], _epoch(k[2])),
    ),
    ("mercadobitcoin", "/tickers"): (
        "mercadobitcoin__tickers",
        lambda k: (k[0], float(k[1])),
        lambda k: (k[0], _epoch(k[1])),
    ),
}


def _raw_records(conn: psycopg.Connection[Any], table: str) -> list[tuple[tuple[Any, ...], Any]]:
    keys = next(t.key_names for t in RAW_TABLES if t.name == table)
    query = sql.SQL("select {}, record from {} order by last_seen_at").format(
        sql.SQL(", ").join(sql.Identifier(k) for k in keys), sql.Identifier("raw", table)
    )
    return [(tuple(row[:-1]), row[-1]) for row in conn.execute(query).fetchall()]


def _unaccounted(
    conn: psycopg.Connection[Any], truth: dict[tuple[str, str], list[dict[str, Any]]]
) -> dict[str, list[Any]]:
    """Records the simulator served that are neither in raw.* (as served) nor quarantined."""
    quarantined = [
        json.dumps(r[0], sort_keys=True)
        for r in conn.execute(
            "select record from raw.quarantine where record is not null "
            "and coalesce(reason, '') <> ''"
        ).fetchall()
    ]
    missing: dict[str, list[Any]] = {}
    for (source, endpoint), items in truth.items():
        served: dict[tuple[Any, ...], Any]
        if source == "fx":  # one truth record per day holds every currency
            table = "fx__rates"
            served = {}
            for item in items:
                base, day = item["key"]
                for quote, rate in item["record"].items():
                    served[(base, quote, _iso(day + "T00:00:00+00:00"))] = {
                        "base": base,
                        "date": day,
                        "quote": quote,
                        "rate": rate,
                    }
            loaded: dict[tuple[Any, ...], Any] = {
                (k[0], k[1], _epoch(k[2])): rec for k, rec in _raw_records(conn, table)
            }
        elif (source, endpoint) == ("kraken", "/0/public/Ticker"):
            # Keyed by fetch time: compare the newest row of each pair (see the docstring).
            # Schema drift in a Ticker body is an extra "pair" (DRIFT_FIELD) that only a
            # faulty response has, so no rerun serves it again: when the run that got it
            # was SIGKILLed before landing it, it was legitimately never landed. Every
            # other endpoint is checked as last served, drift-free after the reruns, too.
            table = "kraken__ticker"
            served = {
                (item["key"][0],): item["record"] for item in items if item["key"][0] != DRIFT_FIELD
            }
            loaded = {}
            for key, record in _raw_records(conn, table):  # oldest first: the newest wins
                loaded[(key[0],)] = record
        else:
            assert (source, endpoint) in KEYS, f"no key mapping for {source} {endpoint}"
            table, from_truth, from_raw = KEYS[(source, endpoint)]
            served = {from_truth(item["key"]): item["record"] for item in items}
            loaded = {from_raw(k): rec for k, rec in _raw_records(conn, table)}
        lost = [
            (key, record)
            for key, record in served.items()
            if loaded.get(key) != record and json.dumps(record, sort_keys=True) not in quarantined
        ]
        if lost:
            missing[table] = lost[:3] + ([f"... {len(lost)} in all"] if len(lost) > 3 else [])
    return missing


# --------------------------------------------------------------------------------- test
def test_chaos_run_ends_with_the_fault_free_marts(
    private_services: Services, tmp_path: Path
) -> None:
    services = private_services
    admin = services.postgres_admin_dsn()
    for database in ("chaos_a", "chaos_b"):
        postgres.bootstrap(admin, database, services.settings)
    dsn_b = _admin_dsn(services, "chaos_b")

    # A: the fault-free reference.
    clean_sim = Simulator(None)
    try:
        reference = _ingest(_run_settings(services, "chaos_a", clean_sim))
    finally:
        clean_sim.close()
    assert reference.returncode == 0, reference.stdout + reference.stderr[-3000:]
    _dbt_build(services, "chaos_a", tmp_path)

    # B: the chaos run.
    sim = Simulator(FAULTS)
    try:
        run_b = _run_settings(services, "chaos_b", sim)
        command = _ingest_command(run_b)
        log = tmp_path / "ingest.log"

        # 1. PostgreSQL restarted under a loading run; the run must still end by itself.
        started = _current_xid(dsn_b)
        first_out = tmp_path / "run1.json"
        with log.open("a") as out, first_out.open("w") as summary_out:
            first = subprocess.Popen(
                command, cwd=PROJECT_ROOT, stdout=summary_out, stderr=out, text=True
            )
        try:
            assert _wait_for_commit(dsn_b, started, first), (
                "the first run ended before it committed anything; nothing to restart under"
            )
            assert services.pg.stop()
            assert services.pg.start()
            first_rc = first.wait(timeout=180)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        assert first_rc in (0, 1), f"run 1 crashed (exit {first_rc}):\n{log.read_text()[-3000:]}"

        # 2. SIGKILL once the second run has committed something.
        started = _current_xid(dsn_b)
        with log.open("a") as out:
            second = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=out, stderr=out, text=True)
        try:
            assert _wait_for_commit(dsn_b, started, second), (
                "the second run ended before it committed anything; nothing to kill"
            )
            os.kill(second.pid, signal.SIGKILL)
        finally:
            second.wait()
        assert second.returncode == -signal.SIGKILL

        # 3. Faults off: rerun until a run succeeds, then build.
        sim.admin("/_admin/faults", {"spec": ""})
        reruns = []
        for _ in range(3):
            reruns.append(_ingest(run_b))
            if reruns[-1].returncode == 0:
                break
        assert reruns[-1].returncode == 0, (
            f"{len(reruns)} fault-free reruns did not succeed:\n"
            + "\n".join(r.stdout + r.stderr[-2000:] for r in reruns)
        )
        truth = sim.ground_truth()
        fault_log = Counter(r["fault"] for r in sim.admin("/_admin/requests") if r["fault"])
    finally:
        sim.close()
    # The plan did inject what it says (else the test proves nothing).
    for kind in (
        "rate_limit",
        "server_error",
        "timeout",
        "html",
        "truncated",
        "drift_extra",
        "drift_reorder",
    ):
        assert fault_log[kind] > 0, f"no {kind} fault was injected: {dict(fault_log)}"
    _dbt_build(services, "chaos_b", tmp_path)

    with (
        psycopg.connect(_admin_dsn(services, "chaos_a")) as conn_a,
        psycopg.connect(dsn_b) as conn_b,
    ):
        # Every record served by the chaos simulator is loaded as served, or quarantined.
        assert _unaccounted(conn_b, truth) == {}
        no_reason = conn_b.execute(
            "select count(*) from raw.quarantine where coalesce(reason, '') = ''"
        ).fetchone()
        assert no_reason == (0,)
        # The non-JSON bodies (truncated, HTML) were kept, not dropped.
        with MongoClient[dict[str, Any]](services.mongo_uri()) as client:
            kept_bodies = client["chaos_b"]["quarantine"].count_documents({})
        assert kept_bodies > 0

        # No duplicate natural key in raw.* or in the marts.
        for table in RAW_TABLES:
            assert _duplicates(conn_b, "raw", table.name, list(table.key_names)) == [], table
        mart_keys = _mart_keys()
        for name in _tables(conn_b, "marts"):
            for key in mart_keys.get(name, []):
                assert _duplicates(conn_b, "marts", name, key) == [], (name, key)

        # The market marts (and the consensus and the metadata snapshot) equal A's.
        compared = [("marts", t) for t in _tables(conn_a, "marts") if t not in RUN_MARTS]
        compared += [("intermediate", t) for t in _tables(conn_a, "intermediate")]
        compared += [("snapshots", t) for t in _tables(conn_a, "snapshots")]
        assert ("marts", "fct_candles_hourly") in compared
        differences = {}
        for schema, relation in compared:
            columns_a, rows_a = _rows(conn_a, schema, relation)
            columns_b, rows_b = _rows(conn_b, schema, relation)
            assert columns_a == columns_b, (schema, relation)
            assert rows_a, f"{schema}.{relation} is empty in the reference: nothing compared"
            if rows_a != rows_b:
                differences[f"{schema}.{relation}"] = {
                    "only_in_reference": list((rows_a - rows_b).elements())[:3],
                    "only_in_chaos": list((rows_b - rows_a).elements())[:3],
                    "counts": (sum(rows_a.values()), sum(rows_b.values())),
                }
        assert differences == {}

        # The run PostgreSQL was restarted under recorded every endpoint in
        # raw.ingestion_runs, the ones that failed in the restart and the ones that
        # succeeded across it, with the run's own status.
        first_summary = json.loads(first_out.read_text())
        recorded = {
            f"{r[0]}/{r[1]}": r[2]
            for r in conn_b.execute(
                "select source, endpoint, status from raw.ingestion_runs where run_id = %s",
                [first_summary["run_id"]],
            ).fetchall()
        }
        assert recorded == {
            name: status for name, (status, _) in first_summary["endpoints"].items()
        }
        assert "could not record run" not in log.read_text()
