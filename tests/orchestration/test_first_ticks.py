"""Every scheduled job succeeds on a fresh warehouse, on its very first tick (issue #12).

A user switches the schedules on (``criptopipe schedules on``) on a warehouse nothing ran
on yet; whichever schedule ticks first must work. So each scheduled job gets a warehouse
and a lake of its own, and its schedule's first tick after the start date — evaluated by
Dagster itself — is executed in process with the real job. That is every order of first
ticks: each job is the first.

What "fresh" costs is kept to once: a dbt step that finds relations missing first builds
every raw table and dbt relation (``ensure_relations``, the same whichever job it is), the
slowest part of a first run. So the hourly candle job (the issue's red first runs) and the
jobs without a dbt step start from a warehouse with roles and schemas only; the other dbt
jobs start from a copy of a warehouse ``ensure_relations`` made (every relation, no row),
``CREATE DATABASE … TEMPLATE``: what their own first run would see once it built them.

The hourly candle job is also checked for what it built: the candle marts hold every hourly
candle the run loaded (its dbt step must run after the ingestion steps, not before them).
Marked slow (``make test`` runs it; ``make test-fast`` does not).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from dagster import DagsterInstance, Definitions, build_schedule_context
from dagster._utils.schedules import cron_string_iterator
from psycopg import sql
from pymongo import MongoClient

from ingestion.connectors.registry import REGISTRY
from ingestion.services import Services, postgres
from ingestion.settings import SOURCES, Settings
from ingestion.simulator import SimulatorConfig
from orchestration.automation import DBT_JOB, ingestion_job_name
from orchestration.simulator import background_simulator, base_url_env

pytestmark = pytest.mark.slow

# A Monday (the weekday FX job ticks on it), the day the schedules go on: the start date.
START = datetime(2026, 11, 23, tzinfo=UTC)
NO_RETRIES = {
    "execution": {"config": {"retries": {"disabled": {}}}},
    "loggers": {"console": {"config": {"log_level": "ERROR"}}},
}


def _first_tick(cron: str) -> datetime:
    start = START.timestamp() - 1
    return next(cron_string_iterator(start, cron, "UTC")).astimezone(UTC)


@pytest.fixture(scope="module")
def first_tick_defs(
    services: Services, base_settings: Settings, test_db_name: str
) -> Iterator[tuple[Definitions, Settings, Any]]:
    """The product's definitions over a warehouse name of the module's own, one asset."""
    from orchestration.dbt_manifest import prepare_manifest
    from orchestration.definitions import build_definitions

    database = f"{test_db_name}_first"
    settings = base_settings.model_copy(
        update={"postgres_db": database, "mongo_db": f"lake_{database}"}
    )
    with (
        background_simulator(SimulatorConfig(seed=4, assets=("BTC",), now=START)) as sim,
        pytest.MonkeyPatch.context() as mp,
    ):
        env = {
            "CRIPTOPIPE_POSTGRES_DB": settings.postgres_db,
            "CRIPTOPIPE_MONGO_DB": settings.mongo_db,
            "CRIPTOPIPE_ASSETS": "BTC",
            "CRIPTOPIPE_START_DATE": START.date().isoformat(),
            "CRIPTOPIPE_NOW": START.isoformat(),
            "CRIPTOPIPE_HTTP_RATE_LIMITS": json.dumps({s: 0 for s in SOURCES}),
            **base_url_env(sim.base_urls),
        }
        for name, value in env.items():
            mp.setenv(name, value)
        prepare_manifest()
        try:
            yield build_definitions(), settings, sim
        finally:
            postgres.drop_database(services.postgres_admin_dsn(), database)
            with MongoClient[dict[str, Any]](services.mongo_uri()) as client:
                client.drop_database(settings.mongo_db)


TEMPLATE_SUFFIX = "_relations"


@pytest.fixture(scope="module")
def relations_template(
    first_tick_defs: tuple[Definitions, Settings, Any], services: Services
) -> Iterator[str]:
    """A database as ``ensure_relations`` leaves a fresh warehouse: every relation, no row.

    Built under the warehouse's own name (so dbt keeps one parse for the module), renamed.
    """
    from orchestration.dbt_assets import (
        DBT_PROJECT,
        dbt_resource,
        ensure_relations,
        warehouse_dbt_env,
    )
    from orchestration.resources import CriptopipeSettings, PostgresResource

    _, settings, _ = first_tick_defs
    _fresh(services, settings)
    warehouse = PostgresResource(config=CriptopipeSettings())
    context: Any = SimpleNamespace(log=logging.getLogger(__name__))  # only its log is used
    with warehouse_dbt_env(warehouse) as cache:
        ensure_relations(context, dbt_resource(), warehouse, DBT_PROJECT.manifest_path, cache)
    template = f"{settings.postgres_db}{TEMPLATE_SUFFIX}"
    admin = services.postgres_admin_dsn()
    postgres.drop_database(admin, template)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("alter database {} rename to {}").format(
                sql.Identifier(settings.postgres_db), sql.Identifier(template)
            )
        )
    try:
        yield template
    finally:
        postgres.drop_database(admin, template)


def _copy(services: Services, settings: Settings, template: str) -> None:
    """The warehouse anew as a copy of ``template`` (its grants given again), the lake empty."""
    admin = services.postgres_admin_dsn()
    postgres.drop_database(admin, settings.postgres_db)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(settings.postgres_db), sql.Identifier(template)
            )
        )
    postgres.bootstrap(admin, settings.postgres_db, services.settings)
    with MongoClient[dict[str, Any]](services.mongo_uri()) as client:
        client.drop_database(settings.mongo_db)


def _fresh(services: Services, settings: Settings) -> None:
    """Drop the warehouse and lake and bootstrap the warehouse anew: roles, schemas only."""
    admin = services.postgres_admin_dsn()
    postgres.drop_database(admin, settings.postgres_db)
    postgres.bootstrap(admin, settings.postgres_db, services.settings)
    with MongoClient[dict[str, Any]](services.mongo_uri()) as client:
        client.drop_database(settings.mongo_db)


def _marts_lag(services: Services, settings: Settings) -> list[Any]:
    """Hourly candles in raw whose mart row is missing or differs from the loaded one."""
    dsn = postgres.with_database(services.postgres_admin_dsn(), settings.postgres_db)
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select u.exchange_id, u.open_at, u.close_price, m.close_price"
            " from intermediate.int_candles_unioned u"
            " left join marts.fct_candles_hourly m using (exchange_id, asset_id, open_at)"
            " where u.interval = '1h' and m.close_price is distinct from u.close_price"
        ).fetchall()


def _scheduled_jobs() -> list[str]:
    """Every scheduled job: one per kind and cadence of the registry's endpoints, the build."""
    cadences = sorted({(spec.is_time_windowed, spec.cadence) for spec in REGISTRY})
    return [ingestion_job_name(*cadence) for cadence in cadences] + [DBT_JOB]


def _is_hourly_candles(job_name: str) -> bool:
    return "candles" in job_name and "hourly" in job_name


@pytest.mark.parametrize("job_name", _scheduled_jobs())
def test_a_scheduled_job_succeeds_on_its_first_tick_on_a_fresh_warehouse(
    job_name: str,
    first_tick_defs: tuple[Definitions, Settings, Any],
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    defs, settings, sim = first_tick_defs
    schedule = defs.get_schedule_def(f"{job_name}_schedule")
    job = defs.resolve_job_def(job_name)
    has_dbt = any(node.name.startswith("dbt_") for node in job.graph.nodes)
    if has_dbt and not _is_hourly_candles(job_name):
        _copy(services, settings, request.getfixturevalue("relations_template"))
    else:
        _fresh(services, settings)
    tick = _first_tick(str(schedule.cron_schedule))
    sim.set_now(tick)
    monkeypatch.setenv("CRIPTOPIPE_NOW", tick.isoformat())
    with DagsterInstance.ephemeral() as instance:
        context = build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=defs.get_repository_def(),
        )
        requests = list(schedule.evaluate_tick(context).run_requests or [])
        assert len(requests) == 1, requests
        result = job.execute_in_process(
            run_config=NO_RETRIES,
            instance=instance,
            partition_key=requests[0].partition_key,
            tags=dict(requests[0].tags),
            raise_on_error=False,
        )
    failures = [
        f"{e.step_key}: {e.step_failure_data.error.message.splitlines()[0]}"
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data and e.step_failure_data.error
    ]
    assert result.success, (f"{tick:%a %H:%M}", requests[0].partition_key, failures)
    if _is_hourly_candles(job_name):
        assert _marts_lag(services, settings) == [], "the marts lag behind what the run loaded"
