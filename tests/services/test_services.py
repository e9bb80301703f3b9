"""The services layer against real servers: embedded PostgreSQL and FerretDB (or mongod)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from netutil import free_port
from psycopg.conninfo import make_conninfo
from pymongo import MongoClient

from ingestion.errors import ServiceError
from ingestion.services import Services, postgres
from ingestion.settings import Settings


def test_shared_servers_answer(admin_dsn: str, mongo_uri: str) -> None:
    with psycopg.connect(admin_dsn) as conn:
        version = conn.execute("show server_version_num").fetchone()
    assert version is not None and int(version[0]) >= 150000
    with MongoClient[dict[str, Any]](mongo_uri, serverSelectionTimeoutMS=3000) as client:
        assert client.admin.command("ping")["ok"] == 1.0


def test_reader_role_cannot_write(reader_dsn: str, transformer_dsn: str) -> None:
    with psycopg.connect(transformer_dsn, autocommit=True) as conn:
        conn.execute("create table if not exists marts.readonly_probe (n int)")
        conn.execute("insert into marts.readonly_probe values (1)")
    with psycopg.connect(reader_dsn, autocommit=True) as conn:
        assert conn.execute("select count(*) from marts.readonly_probe").fetchone() == (1,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("insert into marts.readonly_probe values (2)")
        # even with read-only switched off, the role has no write privilege
        conn.execute("set default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into marts.readonly_probe values (2)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("create table raw.reader_probe (n int)")


def test_loader_owns_raw_and_transformer_reads_it(loader_dsn: str, transformer_dsn: str) -> None:
    with psycopg.connect(loader_dsn, autocommit=True) as conn:
        conn.execute("create table if not exists raw.grant_probe (n int)")
        conn.execute("insert into raw.grant_probe values (7)")
    with psycopg.connect(transformer_dsn) as conn:
        assert conn.execute("select n from raw.grant_probe").fetchone() == (7,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into raw.grant_probe values (8)")


@pytest.fixture
def own_services(tmp_path: Path, base_settings: Settings) -> Iterator[Services]:
    """A second, private pair of servers in a temporary state directory."""
    settings = base_settings.model_copy(
        update={
            "home": tmp_path / "state",
            "postgres_port": free_port(),
            "mongo_port": free_port(),
            "postgres_dsn": None,
            "mongo_uri": None,
            "postgres_db": "svc_test",
        }
    )
    services = Services(settings)
    yield services
    services.down()


def test_up_is_idempotent_and_down_keeps_data(own_services: Services) -> None:
    assert own_services.up() == {"postgres": "started", "mongo": "started"}
    pg_pid, mongo_pid = own_services.pg.pid(), own_services.mongo.pid()
    assert own_services.up() == {"postgres": "running", "mongo": "running"}
    assert (own_services.pg.pid(), own_services.mongo.pid()) == (pg_pid, mongo_pid)

    admin = postgres.with_database(own_services.postgres_admin_dsn(), "svc_test")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("create table keepme (n int)")
        conn.execute("insert into keepme values (42)")
    with MongoClient[dict[str, Any]](own_services.mongo_uri()) as client:
        client.keep.me.insert_one({"n": 42})

    # a parent folder losing its search bit (pytest resets its tmp root to 0700 whenever
    # another session starts) must not stop `down` from reaching the data dir
    own_services.settings.home.parent.chmod(0o700)
    assert own_services.down() == {"postgres": "stopped", "mongo": "stopped"}
    pg_status, mongo_status = own_services.status()
    assert not pg_status.running and not mongo_status.running
    assert own_services.down() == {"postgres": "not running", "mongo": "not running"}

    assert own_services.up() == {"postgres": "started", "mongo": "started"}
    with psycopg.connect(admin) as conn:
        assert conn.execute("select n from keepme").fetchone() == (42,)
    with MongoClient[dict[str, Any]](own_services.mongo_uri()) as client:
        assert client.keep.me.find_one({}, {"_id": 0}) == {"n": 42}
    pg_status, mongo_status = own_services.status()
    assert pg_status.running and pg_status.version and pg_status.data_dir
    assert mongo_status.running and mongo_status.version


def test_port_in_use_is_a_clear_error_and_touches_nothing(own_services: Services) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", own_services.settings.postgres_port))
        blocker.listen()
        with pytest.raises(ServiceError, match=r"port \d+ .* already in use.*POSTGRES_PORT"):
            own_services.up()
    # the cluster was initialised but nothing else was started or deleted
    assert own_services.pg.is_initialised()
    assert own_services.mongo.pid() is None


def test_stale_pid_file_is_reported_and_data_kept(own_services: Services) -> None:
    own_services.up()
    with MongoClient[dict[str, Any]](own_services.mongo_uri()) as client:
        client.keep.me.insert_one({"n": 1})
    own_services.down()
    # a pid file left behind by a crash, pointing at a process that is gone
    dead = subprocess.Popen(["true"])
    dead.wait()
    own_services.mongo.pid_file.write_text(f"{dead.pid}\n")
    _, mongo_status = own_services.status()
    assert not mongo_status.running
    assert "stale pid file" in mongo_status.detail

    assert own_services.up()["mongo"] == "started"
    with MongoClient[dict[str, Any]](own_services.mongo_uri()) as client:
        assert client.keep.me.count_documents({}) == 1


def test_wrong_dsn_is_a_clear_error_without_the_password(
    base_settings: Settings, tmp_path: Path
) -> None:
    from pydantic import SecretStr

    settings = base_settings.model_copy(
        update={
            "home": tmp_path,
            "postgres_dsn": SecretStr(f"postgresql://someone:hunter2@127.0.0.1:{free_port()}/x"),
        }
    )
    with pytest.raises(ServiceError) as excinfo:
        Services(settings).up()
    message = str(excinfo.value)
    assert "cannot connect to PostgreSQL" in message
    assert "someone:***@" in message
    assert "hunter2" not in message
    assert list(tmp_path.iterdir()) == []  # nothing created beside the state dir itself


def test_dsns_are_masked_and_rebuilt_by_libpq_rules() -> None:

    # keyword DSNs may quote values and put spaces around "="
    for dsn in (
        "host=127.0.0.1 password = hunter2 user=postgres",
        "host=127.0.0.1 password='hunter2 x' user=postgres",
    ):
        masked = postgres.mask_dsn(dsn)
        assert "hunter2" not in masked and "password=***" in masked, masked
    for url in (
        "postgresql://postgres:hunter2@127.0.0.1:5/x?sslmode=require",
        "postgresql://postgres@127.0.0.1:5/x?sslmode=require&password=hunter2",
        "postgresql://127.0.0.1:5/x?PassWord=hunter2",
        "mongodb://lake:hunter2@h1:1,h2:2/?authSource=admin",
    ):
        masked = postgres.mask_dsn(url)
        assert "hunter2" not in masked and "***" in masked, masked
        assert "127.0.0.1:5/x" in masked or "h1:1,h2:2" in masked, masked
    assert postgres.mask_dsn("postgresql://u@h/x?sslmode=require") == (
        "postgresql://u@h/x?sslmode=require"
    )


def test_up_with_postgres_dagster_storage_makes_its_own_database_and_role(
    services: Services, test_db_name: str
) -> None:
    from ingestion.services.dagster_storage import dagster_pg_env

    settings = services.settings.model_copy(
        update={"dagster_storage": "postgres", "dagster_db": f"{test_db_name}_dagster_up"}
    )
    admin = services.postgres_admin_dsn()
    postgres.drop_database(admin, settings.dagster_db)
    try:
        Services(settings).up(test_db_name)
        env = dagster_pg_env(settings)
        assert env["DAGSTER_PG_PORT"] == str(settings.postgres_port)
        dsn = make_conninfo(
            admin,
            user=env["DAGSTER_PG_USERNAME"],
            password=env["DAGSTER_PG_PASSWORD"],
            dbname=env["DAGSTER_PG_DB"],
        )
        with psycopg.connect(dsn, autocommit=True) as conn:  # Dagster creates its tables
            conn.execute("create table probe (x int)")
            owner = conn.execute(
                "select datdba::regrole::text from pg_database where datname = current_database()"
            ).fetchone()
        assert owner == ("dagster",)
        warehouse = make_conninfo(
            admin, user="dagster", password=env["DAGSTER_PG_PASSWORD"], dbname=test_db_name
        )
        # no rights in the warehouse: only its three roles may even connect
        with pytest.raises(psycopg.OperationalError, match="CONNECT privilege"):
            psycopg.connect(warehouse).close()
        loader = services.endpoints(test_db_name).role_dsn("loader", settings)
        with pytest.raises(psycopg.OperationalError):  # nor the others in its database
            psycopg.connect(postgres.with_database(loader, settings.dagster_db)).close()
    finally:
        postgres.drop_database(admin, settings.dagster_db)
