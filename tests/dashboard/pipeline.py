"""Build a warehouse the way ``make demo`` does: simulator → ingestion → dbt build → the
pandas indicators mart.

Used by the dashboard tests (a session fixture) and by ``benchmarks/bench_dashboard.py``.
Everything lands in a database and a lake of its own, so nothing else in the test session
can truncate it under the dashboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from ingestion.services import Endpoints, postgres
from ingestion.settings import PROJECT_ROOT, SOURCES, Settings

DBT_PROJECT = PROJECT_ROOT / "dbt_project"


@dataclass(frozen=True)
class Warehouse:
    database: str
    mongo_db: str
    settings: Settings
    run_results: Path  # dbt's run_results.json of the build
    built_at: datetime
    reader_dsn: str = ""

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Rows of one query as the read-only reader role (what the dashboard sees)."""
        import psycopg

        with psycopg.connect(self.reader_dsn) as conn:
            return conn.execute(sql, params).fetchall()

    def rates(self, currency: str) -> dict[Any, float]:
        """USD→``currency`` in force per hour instant (fct_fx_rates_hourly)."""
        import pandas as pd

        rows = self.query(
            "select rate_at, rate from marts.fct_fx_rates_hourly where quote_currency = %s",
            (currency,),
        )
        return {pd.Timestamp(at): float(rate) for at, rate in rows}


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def configured_assets(value: str) -> tuple[str, ...]:
    """The assets ``CRIPTOPIPE_ASSETS=value`` configures, read as criptopipe reads it."""
    from ingestion.settings import load_settings

    with _environ({"CRIPTOPIPE_ASSETS": value}):
        return load_settings().assets


async def _ingest(
    settings: Settings,
    days: int,
    assets: tuple[str, ...],
    now: datetime,
    candle_intervals: tuple[str, ...] | None = None,
) -> Any:
    from ingestion.run.ingest import run_ingestion
    from ingestion.simulator import SimulatorConfig, run_simulator

    async with run_simulator(SimulatorConfig(seed=42, now=now)) as sim:
        update: dict[str, Any] = {f"{s}_base_url": sim.base_urls[s] for s in SOURCES}
        update.update(
            http_rate_limits={s: 0 for s in SOURCES},
            http_backoff_base_seconds=0.01,
            http_backoff_max_seconds=0.05,
            assets=configured_assets(",".join(assets)),
            start_date=(now - timedelta(days=days)).date(),
            markets_top_n=max(10, len(assets)),
        )
        if candle_intervals is not None:
            update["candle_intervals"] = candle_intervals
        run_settings = settings.model_copy(update=update)
        return await run_ingestion(
            run_settings, start=(now - timedelta(days=days)).date(), end=now, now=now
        )


def build_warehouse(
    base: Settings,
    endpoints: Endpoints,
    name: str,
    work_dir: Path,
    *,
    days: int = 60,
    assets: tuple[str, ...] = ("BTC", "ETH", "SOL", "XRP"),
    now: datetime | None = None,
    candle_intervals: tuple[str, ...] | None = None,
    select: tuple[str, ...] = (),
    indicators: bool = True,
) -> Warehouse:
    """A fresh database ``name`` (and lake ``name``) holding ``days`` of simulated history up
    to ``now`` (default: this hour, so freshness reads as a live demo's would), built by dbt.

    ``candle_intervals`` (default: the settings'), ``select`` (dbt node selection; default:
    everything) and ``indicators`` (the pandas mart) let a test build only what it reads.
    """
    from dbt.cli.main import dbtRunner

    now = now or datetime.now(UTC).replace(second=0, microsecond=0)
    admin = endpoints.postgres_admin_dsn
    postgres.drop_database(admin, name)
    postgres.bootstrap(admin, name, base)
    settings = base.model_copy(update={"postgres_db": name, "mongo_db": name})
    summary = asyncio.run(_ingest(settings, days, assets, now, candle_intervals))
    failed = [e for e in getattr(summary, "endpoints", []) if getattr(e, "status", "") != "success"]
    target = work_dir / "dbt_target"
    db_endpoints = Endpoints(endpoints.postgres_admin_dsn, endpoints.mongo_uri, name)
    with _environ(db_endpoints.dbt_env(settings)):
        result = dbtRunner().invoke(
            [
                "build",
                "--project-dir",
                str(DBT_PROJECT),
                "--profiles-dir",
                str(DBT_PROJECT),
                "--target-path",
                str(target),
                "--log-path",
                str(work_dir / "dbt_logs"),
                "--vars",
                f"{{fx_calendar_end_date: '{now.date().isoformat()}'}}",
                "--quiet",
                # a selection builds those models and the tests of theirs alone
                *(("--select", *select, "--indirect-selection", "cautious") if select else ()),
            ]
        )
    if result.exception is not None:
        raise RuntimeError(f"dbt build crashed: {result.exception}") from result.exception
    broken = [
        f"{r.node.name}: {r.message}"
        for r in cast(Any, result.result) or []
        if r.node.resource_type in ("model", "seed") and str(r.status) in ("error", "skipped")
    ]
    if broken:
        raise RuntimeError("dbt build left marts unbuilt:\n" + "\n".join(broken))
    if indicators:
        _technical_indicators(db_endpoints.role_dsn("transformer", settings), now)
    if failed:
        import logging

        logging.getLogger(__name__).warning("ingestion endpoints not successful: %s", failed)
    return Warehouse(
        name,
        name,
        settings,
        target / "run_results.json",
        now,
        db_endpoints.role_dsn("reader", settings),
    )


def _technical_indicators(transformer_dsn: str, now: datetime) -> None:
    """What the Dagster asset marts/fct_technical_indicators does after the dbt build."""
    import psycopg

    from orchestration import indicator_store

    with psycopg.connect(transformer_dsn, autocommit=True) as conn:
        indicator_store.update(conn, now)


def drop_warehouse(endpoints: Endpoints, warehouse: Warehouse) -> None:
    from pymongo import MongoClient

    postgres.drop_database(endpoints.postgres_admin_dsn, warehouse.database)
    with MongoClient[dict[str, Any]](endpoints.mongo_uri) as client:
        client.drop_database(warehouse.mongo_db)
