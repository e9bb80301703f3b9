"""A backfill of three daily partitions is one run that loads exactly those days' candles;
after candles are deleted, the gap sensor asks for exactly the affected partitions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from dagster import AssetKey, DagsterInstance, RunRequest, build_sensor_context

from ingestion.connectors.registry import REGISTRY
from ingestion.services import Services
from ingestion.settings import Settings
from orchestration.automation import GAP_JOB, gap_tables
from orchestration.pipeline import report, run_job
from orchestration.resources import CriptopipeSettings, PostgresResource

# Three whole days that ended at least a day ago.
LAST = datetime.now(UTC).date() - timedelta(days=2)
FIRST = LAST - timedelta(days=2)
DAYS = (LAST - FIRST).days + 1
CANDLE_KEYS = [AssetKey(list(s.asset_key)) for s in REGISTRY if s.is_time_windowed]


@pytest.fixture(scope="module")
def defs(orch_env: dict[str, str]) -> Any:
    from orchestration.definitions import load_definitions

    return load_definitions()


@pytest.fixture(scope="module")
def loader(orch_settings: Settings, orch_env: dict[str, str]) -> Iterator[psycopg.Connection[Any]]:
    dsn = (
        Services(orch_settings)
        .endpoints(orch_settings.postgres_db)
        .role_dsn("loader", orch_settings)
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def backfill(defs: Any, orch_env: dict[str, str]) -> Any:
    """One run over the three partitions: every time-windowed endpoint and the
    incremental marts."""
    with DagsterInstance.ephemeral() as instance:
        result = run_job(
            defs, GAP_JOB, start=FIRST, end=LAST, instance=instance, asset_selection=CANDLE_KEYS
        )
        runs = instance.get_runs()
        return result, report(result), len(runs)


def test_backfill_of_three_days_is_one_run(backfill: Any) -> None:
    result, outcome, runs = backfill
    assert result.success, outcome.failures
    assert runs == 1
    assert {a.key for a in outcome.assets if a.status == "materialized"} >= {
        k.to_user_string() for k in CANDLE_KEYS
    }
    assert all(c.passed for c in outcome.checks)
    klines = next(a for a in outcome.assets if a.key == "raw/binance/klines")
    assert klines.figures["fetched"] > 0
    assert klines.figures["fetched"] == (
        klines.figures["inserted"]
        + klines.figures["updated"]
        + klines.figures["unchanged"]
        + klines.figures["quarantined"]
    )


def test_backfill_loads_exactly_the_candles_of_those_days(
    backfill: Any, loader: psycopg.Connection[Any], simulator: Any
) -> None:
    start = datetime(FIRST.year, FIRST.month, FIRST.day, tzinfo=UTC)
    end = start + timedelta(days=DAYS)
    for table in (t for t in gap_tables() if t.calendar == "candles"):
        raw = table.spec.raw_table
        rows = loader.execute(
            f"select {raw.key_names[0]}, interval, "
            "count(*) filter (where open_time >= %s and open_time < %s), "
            "count(*) filter (where open_time < %s or open_time >= %s) "
            f"from raw.{raw.name} group by 1, 2",
            (start, end, start, end),
        ).fetchall()
        assert rows, f"nothing loaded into {raw.qualified_name}"
        for series, interval, inside, outside in rows:
            expected = DAYS * 24 if interval == "1h" else DAYS
            assert inside == expected, (raw.name, series, interval, inside)
            if table.spec.source != "kraken":
                # Kraken's OHLC has no end parameter: it answers up to "now", and the
                # loader keeps what it was given. Every other API honours the window.
                assert outside == 0, (raw.name, series, interval, outside)
        # every series the simulator served for the window was loaded, and no other
        truth = simulator.state.ground_truth(table.spec.source, _sim_endpoint(simulator, table))
        served = {(_series_of(k), _interval_of(k), _time_of(k)) for k in truth}
        served_inside = {k for k in served if start <= k[2] < end}
        loaded = set(
            loader.execute(
                f"select {raw.key_names[0]}, interval, open_time from raw.{raw.name} "
                "where open_time >= %s and open_time < %s",
                (start, end),
            ).fetchall()
        )
        assert loaded == served_inside, raw.name


INTERVALS = {"1h": "1h", "1d": "1d", 60: "1h", 1440: "1d", 3600: "1h", 86400: "1d"}


def _series_of(key: Any) -> str:
    return str(key[0])


def _interval_of(key: Any) -> str:
    value = key[1]
    return INTERVALS[int(value) if str(value).isdigit() else value]


def _time_of(key: Any) -> datetime:
    """The simulator keys candles by open time in the API's own unit (ms or s)."""
    value = key[2]
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    seconds = float(value) / (1000 if float(value) > 10_000_000_000 else 1)
    return datetime.fromtimestamp(seconds, UTC)


def _at(day: date, plus_days: int, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) + timedelta(days=plus_days)


def _sim_endpoint(simulator: Any, table: Any) -> str:
    endpoints = [e for s, e in simulator.state.truth.endpoints() if s == table.spec.source]
    # the candle endpoint of the source (klines, OHLC, candles)
    for name in endpoints:
        if any(word in name.lower() for word in ("kline", "ohlc", "candle")):
            return name
    return endpoints[0]


def test_gap_sensor_requests_exactly_the_affected_partitions(
    backfill: Any,
    defs: Any,
    loader: psycopg.Connection[Any],
    orch_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The sensor's clock: just after the backfilled days (the run's one clock).
    monkeypatch.setenv("CRIPTOPIPE_NOW", _at(LAST, 1, 1).isoformat())
    sensor = next(s for s in defs.sensors if s.name == "candle_gap_sensor")
    config = CriptopipeSettings(
        postgres_db=orch_settings.postgres_db, mongo_db=orch_settings.mongo_db
    )
    postgres = PostgresResource(config=config)
    with build_sensor_context(resources={"postgres": postgres}, definitions=defs) as context:
        before = sensor.evaluate_tick(context)
    assert not before.run_requests, "a complete backfill must leave no gaps"

    # Delete three hours of one Binance series on March 2 and one Kraken hour on March 3.
    deleted = loader.execute(
        "delete from raw.binance__klines where interval = '1h' and symbol = "
        "(select min(symbol) from raw.binance__klines) and open_time >= %s and open_time < %s",
        (_at(FIRST, 1, 5), _at(FIRST, 1, 8)),
    ).rowcount
    assert deleted == 3
    deleted = loader.execute(
        "delete from raw.kraken__ohlc where interval = '1h' and open_time = %s",
        (_at(FIRST, 2, 12),),
    ).rowcount
    assert deleted >= 1

    with build_sensor_context(resources={"postgres": postgres}, definitions=defs) as context:
        after = sensor.evaluate_tick(context)
    requests: list[RunRequest] = after.run_requests
    second, third = (FIRST + timedelta(days=1)).isoformat(), LAST.isoformat()
    assert sorted(str(r.partition_key) for r in requests) == [second, third]
    by_day = {r.partition_key: set(r.asset_selection or ()) for r in requests}
    assert AssetKey(["raw", "binance", "klines"]) in by_day[second]
    assert AssetKey(["raw", "kraken", "ohlc"]) not in by_day[second]
    assert AssetKey(["raw", "kraken", "ohlc"]) in by_day[third]
    assert AssetKey(["raw", "binance", "klines"]) not in by_day[third]
    assert all(r.job_name in (None, GAP_JOB) for r in requests)
