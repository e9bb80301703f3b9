"""Least privilege on the real server: what each role can and cannot do, and how the
passwords are made, stored and sent."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from netutil import free_port
from psycopg.conninfo import make_conninfo
from pydantic import SecretStr

from ingestion.services import Endpoints, Services, credentials, postgres
from ingestion.services.dagster_storage import bootstrap_dagster_storage
from ingestion.settings import ReaderSettings, Settings


@pytest.fixture(scope="module")
def probe_tables(admin_dsn: str, loader_dsn: str, transformer_dsn: str) -> Iterator[None]:
    with psycopg.connect(loader_dsn, autocommit=True) as conn:
        conn.execute("create table if not exists raw.privilege_probe (n int)")
        conn.execute("insert into raw.privilege_probe values (1)")
    with psycopg.connect(transformer_dsn, autocommit=True) as conn:
        conn.execute("create table if not exists marts.privilege_probe (n int)")
        conn.execute("insert into marts.privilege_probe values (1)")
    yield
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("drop table if exists raw.privilege_probe, marts.privilege_probe")


READER_FORBIDDEN = [
    "insert into marts.privilege_probe values (2)",
    "update marts.privilege_probe set n = 3",
    "delete from marts.privilege_probe",
    "create table marts.reader_made (n int)",
    "create table public.reader_made (n int)",
    "create temporary table reader_temp (n int)",
    "create schema reader_made",
    "select * from raw.privilege_probe",
    "insert into raw.privilege_probe values (2)",
    "select * from staging.privilege_probe_absent",
]


@pytest.mark.parametrize("read_only_off", [False, True], ids=["as-set-up", "read-only-off"])
def test_reader_can_only_read_marts(
    probe_tables: None, reader_dsn: str, read_only_off: bool
) -> None:
    with psycopg.connect(reader_dsn, autocommit=True) as conn:
        assert conn.execute("select n from marts.privilege_probe").fetchall() == [(1,)]
        if read_only_off:  # the session default is read-only; switching it off gains nothing
            conn.execute("set default_transaction_read_only = off")
            assert conn.execute("show transaction_read_only").fetchone() == ("off",)
        for statement in READER_FORBIDDEN:
            with pytest.raises(
                (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)
                if not read_only_off
                else psycopg.errors.InsufficientPrivilege
            ):
                conn.execute(statement)
    with psycopg.connect(reader_dsn, autocommit=True) as conn:
        assert conn.execute("select count(*) from marts.privilege_probe").fetchone() == (1,)


def test_loader_cannot_touch_marts(probe_tables: None, loader_dsn: str) -> None:
    with psycopg.connect(loader_dsn, autocommit=True) as conn:
        for statement in (
            "select * from marts.privilege_probe",
            "insert into marts.privilege_probe values (2)",
            "drop table marts.privilege_probe",
            "create table marts.loader_made (n int)",
            "create schema loader_made",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        conn.execute("insert into raw.privilege_probe values (5)")  # its own schema: yes


def test_roles_are_plain_logins(admin_dsn: str) -> None:
    with psycopg.connect(admin_dsn) as conn:
        rows = conn.execute(
            "select rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, "
            "left(rolpassword, 14) from pg_authid where rolname in "
            "('loader', 'transformer', 'reader') order by rolname"
        ).fetchall()
    assert rows == [
        (role, False, False, False, False, "SCRAM-SHA-256$")
        for role in ("loader", "reader", "transformer")
    ]


def test_role_dsns_need_no_admin_credential(
    settings: Settings, endpoints: Endpoints, tmp_path: Path
) -> None:
    """A role's DSN is built from its own password: a process given only that (and the
    address) connects, and the DSN carries no trace of the superuser's password."""
    admin_password = psycopg.conninfo.conninfo_to_dict(endpoints.postgres_admin_dsn)["password"]
    reader_only = ReaderSettings(
        _env_file=None,  # type: ignore[call-arg]
        home=tmp_path,  # no secret files at all here
        postgres_host=credentials.LOCAL_HOST if settings.postgres_dsn is None else None,
        postgres_port=settings.postgres_port,
        postgres_db=settings.postgres_db,
        reader_password=SecretStr(credentials.role_password(settings, "reader")),
    )
    if settings.postgres_dsn is not None:
        credentials.record_address(tmp_path, settings.postgres_dsn.get_secret_value())
    dsn = credentials.role_dsn(reader_only, "reader")
    assert str(admin_password) not in dsn
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select current_user").fetchone() == ("reader",)
    with pytest.raises(postgres.ServiceError, match=r"loader\.password does not exist"):
        credentials.role_dsn(reader_only, "loader")


def test_secret_files_are_born_0600_and_never_chmodded(tmp_path: Path) -> None:
    chmodded: list[str] = []

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event == "os.chmod" and str(args[0]).startswith(str(tmp_path)):
            chmodded.append(str(args[0]))

    sys.addaudithook(hook)  # hooks cannot be removed; this one only looks under tmp_path
    old = os.umask(0)  # the most permissive umask a user could have
    try:
        path = tmp_path / "secrets" / "reader.password"
        assert credentials.write_secret(path, "s3cret")
        assert not credentials.write_secret(path, "other")  # never overwritten
    finally:
        os.umask(old)
    assert path.read_text() == "s3cret\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    assert chmodded == []


@pytest.fixture(scope="module")
def private_server(base_settings: Settings) -> Iterator[Services]:
    """A private embedded PostgreSQL, for cluster-wide changes. Its state lives outside
    pytest's temporary root, which another pytest session may make unreachable (0700) for
    the server's own user at any moment."""
    with tempfile.TemporaryDirectory(prefix="criptopipe-privilege-") as tmp:
        settings = base_settings.model_copy(
            update={
                "home": Path(tmp) / "state",
                "postgres_port": free_port(),
                "mongo_port": free_port(),
                "postgres_dsn": None,
                "mongo_uri": None,
                "postgres_db": "priv_test",
                "postgres_host": None,
                "loader_password": None,
                "transformer_password": None,
                "reader_password": None,
            }
        )
        services = Services(settings)
        services.pg.start()
        try:
            yield services
        finally:
            services.pg.stop()


def test_generated_passwords_are_random_and_sent_as_scram(private_server: Services) -> None:
    settings = private_server.settings
    # every statement of the bootstrap session goes to the server's log
    admin = make_conninfo(private_server.postgres_admin_dsn(), options="-c log_statement=all")
    postgres.bootstrap(admin, "priv_test", settings)
    bootstrap_dagster_storage(admin, settings.model_copy(update={"dagster_db": "priv_dagster"}))
    roles = credentials.PASSWORD_ROLES
    passwords = {role: credentials.role_password(settings, role) for role in roles}
    assert len(set(passwords.values())) == len(roles) == 4
    assert all(len(p) >= 32 for p in passwords.values())
    for role in roles:
        secret = credentials.password_file(settings.home, role)
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        database = "priv_dagster" if role == "dagster" else None
        with psycopg.connect(credentials.role_dsn(settings, role, database)) as conn:
            assert conn.execute("select current_user").fetchone() == (role,)
    postgres.bootstrap(admin, "priv_test", settings)  # a second run keeps the passwords
    assert {r: credentials.role_password(settings, r) for r in roles} == passwords
    log = private_server.pg.log_file.read_text(errors="replace")
    assert "alter role" in log.lower()  # the statements were logged...
    for password in passwords.values():
        assert password not in log  # ...but no password in clear


def test_explicit_password_from_env_wins(private_server: Services, tmp_path: Path) -> None:
    settings = private_server.settings.model_copy(  # role passwords of another install
        update={"home": tmp_path, "reader_password": SecretStr("reader pass w/ spaces")}
    )
    postgres.bootstrap(private_server.postgres_admin_dsn(), "priv_test", settings)
    assert not credentials.password_file(settings.home, "reader").exists()
    with psycopg.connect(credentials.role_dsn(settings, "reader")) as conn:
        assert conn.execute("select current_user").fetchone() == ("reader",)


def test_lake_readers_use_the_read_only_uri(tmp_path: Path) -> None:
    from ingestion.services import lake_reader_uri, lake_uri, mongo

    writer = "mongodb://lake_writer:w%40pw@mongo:27017/lake?authSource=lake"
    reader = "mongodb://lake_reader:r-pw@mongo:27017/lake?authSource=lake"
    full = Settings(
        _env_file=None,
        home=tmp_path,
        mongo_uri=SecretStr(writer),  # type: ignore[call-arg]
        mongo_reader_uri=SecretStr(reader),
    )
    assert lake_uri(full) == writer and lake_reader_uri(full) == reader
    only_writer = full.model_copy(update={"mongo_reader_uri": None})
    assert lake_reader_uri(only_writer) == writer  # a process that holds it anyway
    # a reader-only process never sees the writer's URI: the read-only one, else local
    dashboard = ReaderSettings(_env_file=None, mongo_port=5)  # type: ignore[call-arg]
    assert lake_reader_uri(dashboard) == "mongodb://127.0.0.1:5/"
    for uri in (writer, reader):
        masked = mongo.mask_uri(uri)
        assert "pw" not in masked and "***@mongo:27017/lake?authSource=lake" in masked
