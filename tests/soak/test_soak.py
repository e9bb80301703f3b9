"""Soak: the production path, unattended, across three simulated days (``-m soak``).

Work in progress (issue #12 stays open): run it with ``uv run pytest -m soak tests/soak``.
Its last run took 399 s and compared 230 closed candles with 0 stale, 0 missing and 0
duplicates in raw and the marts, but it still fails three of its own checks: the fault
plan caused no failed run (so no alert or repair was exercised), fewer than 300 values
were compared, and no open candle was found in the marts. Until those pass, ``make test``
leaves it out (see the Makefile); it is not counted as done.

A fresh warehouse; the simulator's clock moves from Thursday 22:00 UTC through a weekend and
four midnights to Monday 01:30, in one-hour steps. At each step every schedule whose
tick fell in the step is evaluated by Dagster itself (``evaluate_tick`` on a
``build_schedule_context``), every sensor too (``build_sensor_context``, cursors carried
over), and each run request is executed in process on one Dagster instance, with the run
clock (``CRIPTOPIPE_NOW``) set to the simulator's. A seeded fault plan (429 storms, 5xx,
empty pages, nulls, a Binance ban, disconnects) is on from Saturday 00:00 to Sunday 12:00.
Alerts go to a local HTTP receiver.

At the end: raw and the candle marts equal the simulator's final data for every candle
that had closed at the last fetch (0 stale, 0 missing, 0 duplicates), the open candles are
flagged open, every failed run produced an alert, and every run after the faults ended
succeeded. The counts are printed.

To keep it to a few minutes the soak tracks one asset (BTC) on three exchanges (Binance,
Kraken, Coinbase) plus FX and Fear & Greed, and the candle endpoints' cadence is every
12 hours (00:05, 12:05) instead of hourly; everything else — jobs, schedules,
sensors, partitions, resources, dbt — is what ``orchestration.definitions`` builds.
Dagster's step retries are off (``retries: disabled``): a failed run stays failed, and the
next tick or the gap sensor must repair it, which is what is asserted.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    RunsFilter,
    build_schedule_context,
    build_sensor_context,
)
from dagster._utils.schedules import cron_string_iterator
from netutil import free_port
from warehouses import fresh_warehouse

from ingestion.connectors.base import PlanContext
from ingestion.connectors.registry import get_endpoint
from ingestion.services import Services
from ingestion.settings import SOURCES, Settings, load_settings
from ingestion.simulator import FaultPlan, SimulatorConfig
from ingestion.symbols import get_asset
from orchestration.automation import build_automation
from orchestration.ingestion_assets import build_ingestion_assets
from orchestration.simulator import background_simulator, base_url_env

pytestmark = [pytest.mark.soak, pytest.mark.timeout(1800)]

START = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)  # Thursday night
END = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)  # Monday, after the daily dbt build
STEP = timedelta(hours=1)
FAULTS_FROM = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # Saturday
FAULTS_UNTIL = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # Sunday noon
CANDLE_CADENCE = "5 */12 * * *"
FAULTS = FaultPlan.parse(
    "seed=12;"
    "binance:rate_limit:first=8,skip=4,retry_after=1;"  # a 429 storm past the retries
    "binance:ban:first=1,skip=20,retry_after=1;"
    "binance:empty:p=0.15,endpoint=klines;"
    "coinbase:server_error:p=0.25;"
    "coinbase:nulls:p=0.15;"
    "kraken:disconnect:p=0.2;"
    "fear_greed:server_error:first=3"
)
SPECS = (
    replace(get_endpoint("binance", "klines"), cadence=CANDLE_CADENCE),
    replace(get_endpoint("kraken", "ohlc"), cadence=CANDLE_CADENCE),
    replace(get_endpoint("coinbase", "candles"), cadence=CANDLE_CADENCE),
    get_endpoint("fx", "rates"),
    get_endpoint("fear_greed", "fng"),
)
FIRST_DAY = datetime(2026, 11, 20, tzinfo=UTC)  # the first candle tick's partition
NO_RETRIES = {
    "execution": {"config": {"retries": {"disabled": {}}}},
    "loggers": {"console": {"config": {"log_level": "ERROR"}}},
}


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/soak", received
    server.shutdown()


@pytest.fixture(scope="module")
def soak_settings(
    services: Services, base_settings: Settings, test_db_name: str
) -> Iterator[Settings]:
    with fresh_warehouse(services, base_settings, f"{test_db_name}_soak") as settings:
        yield settings


def _soak_definitions() -> Definitions:
    from orchestration.dbt_assets import load_dbt_definitions
    from orchestration.definitions import load_definitions

    defs = load_definitions()  # prepares the dbt manifest
    _dbt_assets, _ = load_dbt_definitions()

    dbt_models = [a for a in _dbt_assets if not a.partitions_def]
    dbt_incremental = [a for a in _dbt_assets if a.partitions_def]
    automation = build_automation(dbt_models, dbt_incremental, SPECS)
    return Definitions(
        assets=[*build_ingestion_assets(SPECS), *_dbt_assets],
        jobs=automation.jobs,
        schedules=automation.schedules,
        sensors=automation.sensors,
        resources=defs.resources,
    )


def _final_data(sim: Any) -> dict[tuple[str, str], dict[Any, Any]]:
    """The simulator's final records, parsed by the connectors' own parsers: every
    candle and daily value whose period had closed when its endpoint last fetched."""
    settings = load_settings(
        assets=("BTC",), **{f"{s}_base_url": u for s, u in sim.base_urls.items()}
    )
    final: dict[tuple[str, str], dict[Any, Any]] = {}
    for spec in SPECS:
        ctx = PlanContext(settings, (get_asset("BTC"),), END, FIRST_DAY, END, {})
        records: dict[Any, Any] = {}
        for request in spec.plan(ctx):
            url = (
                settings.base_url(spec.source)
                + request.path
                + "?"
                + "&".join(f"{k}={urllib.request.quote(v)}" for k, v in request.params.items())
            )
            with urllib.request.urlopen(url, timeout=30) as response:
                body = json.loads(response.read())
            for record in spec.parse(request.path, request.params, body, END).records:
                records[record.key] = record.record
        last_fetch = _last_tick(spec.cadence)
        # An ECB rate is final once published (the 17:00 run fetches that day's).
        closed_at = last_fetch + timedelta(days=1) if spec.source == "fx" else last_fetch
        final[(spec.source, spec.endpoint)] = {
            key: value
            for key, value in records.items()
            if _closed_by(key, closed_at) and key[-1] >= _first_loaded_day(key)
        }
    return final


def _closed_by(key: tuple[Any, ...], at: datetime) -> bool:
    t = key[-1]
    if isinstance(t, datetime):
        length = timedelta(hours=1) if key[-2] == "1h" else timedelta(days=1)
        return t + length <= at
    return datetime(t.year, t.month, t.day, tzinfo=UTC) + timedelta(days=1) <= at


def _first_loaded_day(key: tuple[Any, ...]) -> Any:
    first = FIRST_DAY
    return first if isinstance(key[-1], datetime) else first.date()


def _raw(dsn: str, spec: Any) -> dict[Any, tuple[Any, bool]]:
    table = spec.raw_table
    keys = ", ".join(table.key_names)
    closed = (
        "open_time + case interval when '1h' then interval '1 hour' else interval '1 day'"
        " end <= last_seen_at"
        if "interval" in table.key_names
        else "true"
    )
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"select {keys}, record, {closed} from {table.qualified_name}"
        ).fetchall()
    return {tuple(r[:-2]): (r[-2], r[-1]) for r in rows}


CLOSE_VOLUME = {"binance": (4, 5), "kraken": (4, 6), "coinbase": (4, 5)}


def test_three_simulated_days_unattended(
    soak_settings: Settings,
    webhook: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = time.monotonic()
    url, alerts = webhook
    with background_simulator(SimulatorConfig(seed=5, assets=("BTC",), now=START)) as sim:
        env = {
            "CRIPTOPIPE_POSTGRES_DB": soak_settings.postgres_db,
            "CRIPTOPIPE_MONGO_DB": soak_settings.mongo_db,
            "CRIPTOPIPE_ASSETS": "BTC",
            "CRIPTOPIPE_HTTP_RATE_LIMITS": json.dumps({s: 0 for s in SOURCES}),
            "CRIPTOPIPE_HTTP_MAX_RETRIES": "2",
            "CRIPTOPIPE_HTTP_TIMEOUT_SECONDS": "3",
            "CRIPTOPIPE_HTTP_BACKOFF_BASE_SECONDS": "0.01",
            "CRIPTOPIPE_HTTP_BACKOFF_MAX_SECONDS": "0.05",
            "CRIPTOPIPE_ALERT_WEBHOOK_URL": url,
            **base_url_env(sim.base_urls),
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        defs = _soak_definitions()
        resources = dict(defs.resources)
        repository = defs.get_repository_def()
        counts = {
            "schedule_ticks": 0,
            "sensor_ticks": 0,
            "runs": 0,
            "failed_runs": 0,
            "gap_runs": 0,
        }
        cursors: dict[str, str | None] = {}
        failed_after_faults: list[str] = []
        with DagsterInstance.ephemeral() as instance:
            now = START
            while now < END:
                step_end = now + STEP
                sim.set_now(now)
                sim.set_faults(FAULTS if FAULTS_FROM <= now < FAULTS_UNTIL else FaultPlan())
                requests = []
                for schedule in defs.schedules:
                    for tick in cron_string_iterator(
                        now.timestamp(), schedule.cron_schedule, "UTC"
                    ):
                        if tick >= step_end:
                            break
                        if tick < now:
                            continue
                        context = build_schedule_context(
                            instance=instance,
                            scheduled_execution_time=tick,
                            repository_def=repository,
                        )
                        result = schedule.evaluate_tick(context)
                        counts["schedule_ticks"] += 1
                        requests += [
                            (tick, schedule.job_name, r) for r in result.run_requests or []
                        ]
                requests.sort(key=lambda item: item[0])
                for tick, job_name, request in requests:
                    _execute(
                        defs,
                        instance,
                        job_name,
                        request,
                        tick,
                        sim,
                        monkeypatch,
                        counts,
                        failed_after_faults,
                    )
                sensor_at = step_end - timedelta(minutes=1)
                sim.set_now(sensor_at)
                monkeypatch.setenv("CRIPTOPIPE_NOW", sensor_at.isoformat())
                for sensor in defs.sensors:
                    with build_sensor_context(
                        instance=instance,
                        cursor=cursors.get(sensor.name),
                        repository_def=repository,
                        resources=resources,
                    ) as context:
                        data = sensor.evaluate_tick(context)
                    counts["sensor_ticks"] += 1
                    cursors[sensor.name] = data.cursor
                    for request in data.run_requests or []:
                        counts["gap_runs"] += 1
                        _execute(
                            defs,
                            instance,
                            sensor.job_name or "",
                            request,
                            sensor_at,
                            sim,
                            monkeypatch,
                            counts,
                            failed_after_faults,
                        )
                if now.hour % 12 == 0:
                    print(
                        f"soak {now:%a %H:%M}: {counts} after {time.monotonic() - started:.0f}s",
                        flush=True,
                    )
                now = step_end
            failed = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
        sim.set_now(END)
        sim.set_faults(FaultPlan())
        final = _final_data(sim)

    loader = (
        Services(soak_settings)
        .endpoints(soak_settings.postgres_db)
        .role_dsn("loader", soak_settings)
    )
    stale = missing = 0
    compared = 0
    for spec in SPECS:
        loaded = _raw(loader, spec)
        for key, record in final[(spec.source, spec.endpoint)].items():
            compared += 1
            got = loaded.get(_raw_key(spec, key))
            if got is None:
                missing += 1
            elif got[0] != record or not got[1]:
                stale += 1
    reader = (
        Services(soak_settings)
        .endpoints(soak_settings.postgres_db)
        .role_dsn("reader", soak_settings)
    )
    with psycopg.connect(reader) as conn:
        duplicates = conn.execute(
            "select (select count(*) - count(distinct (exchange_id, asset_id, open_at))"
            " from marts.fct_candles_hourly) + (select count(*) - count(distinct"
            " (exchange_id, asset_id, open_at)) from marts.fct_candles_daily)"
        ).fetchone()[0]
        marts = conn.execute(
            "select exchange_id, interval, open_at, close_price, volume, is_closed"
            " from marts.fct_candles_hourly where asset_id = 'BTC' union all"
            " select exchange_id, interval, open_at, close_price, volume, is_closed"
            " from marts.fct_candles_daily where asset_id = 'BTC'"
        ).fetchall()
    by_key = {(e, i, t): (c, v, closed) for e, i, t, c, v, closed in marts}
    mart_stale = mart_missing = 0
    for spec in SPECS[:3]:
        close_at, volume_at = CLOSE_VOLUME[spec.source]
        for key, record in final[(spec.source, spec.endpoint)].items():
            got = by_key.get((spec.source, key[1], key[2]))
            if got is None:
                mart_missing += 1
            elif (got[0], got[1], got[2]) != (
                Decimal(str(record[close_at])),
                Decimal(str(record[volume_at])),
                True,
            ):
                mart_stale += 1
    open_candles = [k for k, (c, v, closed) in by_key.items() if not closed]
    alert_text = json.dumps(alerts)
    unalerted = [r.run_id for r in failed if r.run_id not in alert_text]
    counts.update(
        failed_runs=len(failed),
        alerts=len(alerts),
        compared=compared,
        stale=stale,
        missing=missing,
        duplicates=duplicates,
        mart_stale=mart_stale,
        mart_missing=mart_missing,
        open_candles=len(open_candles),
        failed_after_faults=len(failed_after_faults),
        seconds=round(time.monotonic() - started),
    )
    print("\nsoak:", " ".join(f"{k}={v}" for k, v in counts.items()))
    assert compared > 300
    assert (stale, missing, duplicates) == (0, 0, 0)
    assert (mart_stale, mart_missing) == (0, 0)
    assert counts["failed_runs"] > 0, "the fault plan failed no run: it tests nothing"
    assert unalerted == []
    assert failed_after_faults == []
    # The open candles: one 1h and one 1d per exchange, flagged open.
    assert sorted((e, i) for e, i, _ in open_candles) == sorted(
        (s.source, i) for s in SPECS[:3] for i in ("1d", "1h")
    )


def _last_tick(cron: str) -> datetime:
    """The last tick of ``cron`` before the soak ends: when the endpoint last fetched."""
    last = START
    for tick in cron_string_iterator(START.timestamp(), cron, "UTC"):
        if tick >= END:
            break
        last = tick
    return last


def _raw_key(spec: Any, key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(str(v) if isinstance(v, str) else v for v in key)


def _execute(
    defs: Definitions,
    instance: DagsterInstance,
    job_name: str,
    request: Any,
    at: datetime,
    sim: Any,
    monkeypatch: pytest.MonkeyPatch,
    counts: dict[str, int],
    failed_after_faults: list[str],
) -> None:
    sim.set_now(at)
    monkeypatch.setenv("CRIPTOPIPE_NOW", at.isoformat())
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        run_config=NO_RETRIES,
        instance=instance,
        partition_key=request.partition_key,
        asset_selection=list(request.asset_selection) if request.asset_selection else None,
        tags=dict(request.tags),
        raise_on_error=False,
    )
    counts["runs"] += 1
    if not result.success and at >= FAULTS_UNTIL:
        failed_after_faults.append(f"{job_name} {request.partition_key} at {at}")
