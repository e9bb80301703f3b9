"""``criptopipe backup`` / ``restore``: back up, drop everything, restore, compare.

A warehouse and lake filled the real way (simulator → two ingestion runs → ``dbt build``)
are backed up with the CLI, both databases are dropped, the backup is restored into the
empty servers, and then:

- ``raw.*``, the snapshots and every lake document (bodies included) equal the originals,
  and the lake's indexes are back;
- after another ``dbt build`` the marts equal the originals;
- ``criptopipe lake replay`` on the restored lake alone, into a new empty warehouse,
  rebuilds ``raw.*`` exactly (the lake is the source of truth).
"""

from __future__ import annotations

import gzip
import pprint
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import simulated
from dbt_helpers import DbtDatabase
from psycopg import sql
from pymongo import MongoClient
from typer.testing import CliRunner

from ingestion.services import postgres
from orchestration.cli import app

ASSETS = ("BTC", "ETH")
# Columns that say when a row was loaded or built, not what it holds.
LOAD_COLUMNS = {"first_seen_at", "last_seen_at", "run_id", "resolved_at"}
BUILD_COLUMNS = {"evaluated_at"}  # fct_pipeline_health: now() at build time
RUN_LOG = "dbt_run_results"  # marts table of every dbt invocation's results


def _tables(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s "
            "and table_type = 'BASE TABLE' order by table_name",
            [schema],
        ).fetchall()
    ]


def _contents(
    dsn: str,
    schema: str,
    drop: set[str] = frozenset(),  # type: ignore[assignment]
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of ``schema``, sorted, without the ``drop`` columns."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(dsn) as conn:
        for table in _tables(conn, schema):
            columns = [
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns where table_schema = %s "
                    "and table_name = %s and column_name <> all(%s) order by ordinal_position",
                    [schema, table, list(drop)],
                ).fetchall()
            ]
            query = sql.SQL("select {} from {}.{}").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.Identifier(schema),
                sql.Identifier(table),
            )
            out[table] = sorted(conn.execute(query).fetchall(), key=repr)
    return out


def _differences(
    got: dict[str, list[tuple[Any, ...]]], want: dict[str, list[tuple[Any, ...]]]
) -> dict[str, Any]:
    """Per table, a few rows only one side has (a readable failure)."""
    out: dict[str, Any] = {}
    for table in sorted(set(got) | set(want)):
        extra = [r for r in got.get(table, []) if r not in want.get(table, [])]
        missing = [r for r in want.get(table, []) if r not in got.get(table, [])]
        if extra or missing:
            out[table] = {
                "extra": extra[:2],
                "missing": missing[:2],
                "counts": (len(got.get(table, [])), len(want.get(table, []))),
            }
    return out


def _lake(uri: str, database: str) -> dict[str, Any]:
    with MongoClient[dict[str, Any]](uri, tz_aware=True) as client:
        db = client[database]
        return {
            name: (
                list(db[name].find({}).sort("_id", 1)),
                sorted(
                    (i["name"], tuple(i["key"].items()), bool(i.get("unique")))
                    for i in db[name].list_indexes()
                ),
            )
            for name in ("responses", "quarantine")
        }


def _build(db: DbtDatabase, now: datetime) -> None:
    result = db.dbt(
        "build",
        "--vars",
        f"{{fx_calendar_end_date: '{now.date()}', current_date_utc: '{now.date()}'}}",
    )
    assert result.not_passing() == []


def _env(db: DbtDatabase, database: str, lake: str) -> dict[str, str]:
    # the assets the runs resolved: a replay of the listings resolves them again
    return {
        "CRIPTOPIPE_POSTGRES_DB": database,
        "CRIPTOPIPE_MONGO_DB": lake,
        "CRIPTOPIPE_ASSETS": ",".join(ASSETS),
    }


@pytest.fixture(scope="module")
def filled(dbt_db: DbtDatabase) -> datetime:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    first = simulated.ingest(dbt_db, days=3, assets=ASSETS, now=now - timedelta(hours=2))
    second = simulated.ingest(dbt_db, days=3, assets=ASSETS, now=now)  # updates open candles
    assert not first.failed and not second.failed
    assert sum(e.updated for e in second.endpoints) > 0
    _build(dbt_db, now)
    return now


def test_backup_drop_restore_rebuild_and_replay(
    dbt_db: DbtDatabase, filled: datetime, tmp_path: Path
) -> None:
    admin = dbt_db.endpoints.postgres_admin_dsn
    uri = dbt_db.endpoints.mongo_uri
    name, lake = dbt_db.name, dbt_db.settings.mongo_db
    dsn = postgres.with_database(admin, name)
    raw, snapshots = _contents(dsn, "raw"), _contents(dsn, "snapshots")
    marts = _contents(dsn, "marts", BUILD_COLUMNS)
    documents = _lake(uri, lake)
    assert raw["binance__klines"] and snapshots and marts["fct_candles_hourly"]
    assert documents["responses"][0]

    runner = CliRunner()
    env = _env(dbt_db, name, lake)
    target = tmp_path / "backup"
    made = runner.invoke(app, ["backup", str(target)], env=env)
    assert made.exit_code == 0, made.output
    assert f"backup of {name}" in made.output
    assert {p.name for p in target.iterdir()} == {"manifest.json", "warehouse.dump", "lake"}
    with gzip.open(target / "lake" / "responses.jsonl.gz", "rt") as lines:
        assert sum(1 for _ in lines) == len(documents["responses"][0])
    again = runner.invoke(app, ["backup", str(target)], env=env)
    assert again.exit_code == 1 and "not an empty folder" in again.output

    # A restore never writes into a warehouse that holds data.
    refused = runner.invoke(app, ["restore", str(target)], env=env)
    assert refused.exit_code == 1 and "already holds tables" in refused.output

    postgres.drop_database(admin, name)
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri) as client:
        client.drop_database(lake)

    restored = runner.invoke(app, ["restore", str(target)], env=env)
    assert restored.exit_code == 0, restored.output
    assert _contents(dsn, "raw") == raw
    assert _contents(dsn, "snapshots") == snapshots
    assert _contents(dsn, "marts", BUILD_COLUMNS) == marts
    assert _lake(uri, lake) == documents  # documents, bodies and indexes

    _build(dbt_db, filled)  # the restored warehouse works for dbt (owners, grants)
    rebuilt_marts = _contents(dsn, "marts", BUILD_COLUMNS)
    # dbt's on-run-end hook logs every invocation there: the new build adds its own rows.
    runs_before, runs_after = marts.pop(RUN_LOG), rebuilt_marts.pop(RUN_LOG)
    assert set(runs_before) < set(runs_after)
    assert rebuilt_marts == marts
    with psycopg.connect(dbt_db.reader_dsn) as conn:  # and for the dashboard's role
        assert conn.execute("select count(*) from marts.fct_candles_hourly").fetchone()

    # Disaster recovery: the lake alone rebuilds raw.
    replay_db = f"{name}_replay"
    postgres.drop_database(admin, replay_db)
    postgres.bootstrap(admin, replay_db, dbt_db.settings)
    try:
        replayed = runner.invoke(app, ["lake", "replay"], env=_env(dbt_db, replay_db, lake))
        assert replayed.exit_code == 0, replayed.output
        rebuilt = _contents(postgres.with_database(admin, replay_db), "raw", LOAD_COLUMNS)
    finally:
        postgres.drop_database(admin, replay_db)
    original = _contents(dsn, "raw", LOAD_COLUMNS)
    for bookkeeping in ("ingestion_runs", "quarantine"):  # a replay's own run log
        original.pop(bookkeeping), rebuilt.pop(bookkeeping)
    differences = _differences(rebuilt, original)
    assert not differences, pprint.pformat(differences, width=160)


def test_restore_refuses_a_damaged_or_partial_backup(
    dbt_db: DbtDatabase, filled: datetime, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = _env(dbt_db, f"{dbt_db.name}_never", f"{dbt_db.settings.mongo_db}_never")
    missing = runner.invoke(app, ["restore", str(tmp_path)], env=env)
    assert missing.exit_code == 1 and "holds no manifest.json" in missing.output

    target = tmp_path / "backup"
    made = runner.invoke(
        app, ["backup", str(target)], env=_env(dbt_db, dbt_db.name, dbt_db.settings.mongo_db)
    )
    assert made.exit_code == 0, made.output
    dump = target / "warehouse.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    damaged = runner.invoke(app, ["restore", str(target)], env=env)
    assert damaged.exit_code == 1 and "is damaged" in damaged.output
    admin = dbt_db.endpoints.postgres_admin_dsn
    with psycopg.connect(admin) as conn:  # nothing was created
        assert (
            conn.execute(
                "select 1 from pg_database where datname = %s", [f"{dbt_db.name}_never"]
            ).fetchone()
            is None
        )


def test_dagster_storage_is_backed_up_and_restored_with_the_warehouse(
    dbt_db: DbtDatabase, filled: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With CRIPTOPIPE_DAGSTER_STORAGE=postgres the backup holds Dagster's database too (a
    # real instance's, with a finished run), and a restore into new names brings it back.
    from dagster import DagsterInstance, DagsterRunStatus, job, op

    from ingestion.services.dagster_storage import bootstrap_dagster_storage, dagster_pg_env
    from orchestration.instance import dagster_yaml

    admin = dbt_db.endpoints.postgres_admin_dsn
    storage = f"{dbt_db.name}_dagster"
    settings = dbt_db.settings.model_copy(
        update={"dagster_storage": "postgres", "dagster_db": storage}
    )
    copy, lake_copy = f"{dbt_db.name}_copy", f"{dbt_db.settings.mongo_db}_copy"
    for database in (storage, copy):
        postgres.drop_database(admin, database)
    bootstrap_dagster_storage(admin, settings)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(dagster_yaml("postgres"))
    for name, value in dagster_pg_env(settings).items():
        monkeypatch.setenv(name, value)

    @op
    def one() -> int:
        return 1

    @job
    def tiny() -> None:
        one()

    with DagsterInstance.from_config(str(home)) as instance:
        run_id = tiny.execute_in_process(instance=instance).run_id
    runner = CliRunner()
    env = {
        **_env(dbt_db, dbt_db.name, dbt_db.settings.mongo_db),
        "CRIPTOPIPE_DAGSTER_STORAGE": "postgres",
        "CRIPTOPIPE_DAGSTER_DB": storage,
    }
    client: MongoClient[dict[str, Any]]
    try:
        made = runner.invoke(app, ["backup", str(tmp_path / "backup")], env=env)
        assert made.exit_code == 0, made.output
        assert f"Dagster's storage {storage}" in made.output
        postgres.drop_database(admin, storage)
        restored = runner.invoke(
            app, ["restore", str(tmp_path / "backup")], env={**env, **_env(dbt_db, copy, lake_copy)}
        )
        assert restored.exit_code == 0, restored.output
        assert f"Dagster's storage restored into {storage}" in restored.output
        with DagsterInstance.from_config(str(home)) as instance:
            run = instance.get_run_by_id(run_id)
            assert run is not None and run.status == DagsterRunStatus.SUCCESS
        dsn = postgres.with_database(admin, dbt_db.name)
        assert _contents(postgres.with_database(admin, copy), "raw") == _contents(dsn, "raw")
    finally:
        for database in (storage, copy):
            postgres.drop_database(admin, database)
        with MongoClient(dbt_db.endpoints.mongo_uri) as client:
            client.drop_database(lake_copy)
