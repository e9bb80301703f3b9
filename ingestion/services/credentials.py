"""Role credentials: each process gets only its own role's password, never the admin's.

Three PostgreSQL roles do the work: ``loader`` (ingestion writes ``raw``), ``transformer``
(dbt) and ``reader`` (the dashboard, read-only on ``marts``). A role's password is
``CRIPTOPIPE_<ROLE>_PASSWORD`` when set (your own server, docker-compose), otherwise a
random one that the first ``criptopipe services up`` generated into
``<home>/secrets/<role>.password``. Secret files are created with mode 0600 from the start
(``os.open`` under a 077 umask, then an atomic ``link``): there is no moment at which
another user can read them, and a concurrent ``services up`` never sees half a file.

Where the roles connect (host, port, TLS options) comes from ``CRIPTOPIPE_POSTGRES_HOST``
/ ``_PORT``, else from the address part of ``CRIPTOPIPE_POSTGRES_DSN`` where a process is
configured with it (its user and password are dropped), else from what ``services up``
recorded of it (``<home>/warehouse.conninfo``, no credentials: for the dashboard, which
never loads the admin DSN), else the embedded server. A role's DSN never carries the
admin's credentials, and building one never reads the superuser's secret file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import SecretStr

from ingestion.errors import ServiceError

ROLES = ("loader", "transformer", "reader")  # the warehouse's roles
# Every role with a password: the warehouse's and ``dagster`` (its own storage database,
# with CRIPTOPIPE_DAGSTER_STORAGE=postgres; see ingestion/services/dagster_storage.py).
PASSWORD_ROLES = (*ROLES, "dagster")
LOCAL_HOST = "127.0.0.1"
# Connection keywords that identify who connects (dropped from the recorded address).
_IDENTITY_KEYS = ("user", "password", "dbname", "passfile")


class RoleSettings(Protocol):
    """What building a role's DSN needs (``Settings`` and ``ReaderSettings`` both have it)."""

    @property
    def home(self) -> Path:
        """The state directory (``.criptopipe/`` by default)."""

    @property
    def postgres_host(self) -> str | None:
        """The warehouse's host when it is not the local server, else None."""

    @property
    def postgres_port(self) -> int:
        """The warehouse server's port."""

    @property
    def postgres_db(self) -> str:
        """The warehouse database's name."""


def secrets_dir(home: Path) -> Path:
    """The folder of generated role passwords under ``home``."""
    return home / "secrets"


def password_file(home: Path, role: str) -> Path:
    """The file holding ``role``'s generated password."""
    return secrets_dir(home) / f"{role}.password"


def address_file(home: Path) -> Path:
    """The file where ``services up`` records the warehouse server's address (no credential)."""
    return home / "warehouse.conninfo"


def write_secret(path: Path, value: str) -> bool:
    """Create ``path`` holding ``value``, mode 0600 from its first byte; never overwrite.

    Returns False when the file already existed (it is left as it was).
    """
    old_umask = os.umask(0o077)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    finally:
        os.umask(old_umask)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        try:
            os.link(tmp, path)  # atomic, and fails when another process got there first
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


# The variables docker-compose.yml reads from its env file (one per credential).
COMPOSE_SECRETS = (
    "POSTGRES_PASSWORD",
    "LOADER_PASSWORD",
    "TRANSFORMER_PASSWORD",
    "READER_PASSWORD",
    "MONGO_ROOT_PASSWORD",
    "MONGO_WRITER_PASSWORD",
    "MONGO_READER_PASSWORD",
    "DASHBOARD_PASSWORD",
    "DAGSTER_PG_PASSWORD",
)


def add_compose_secrets(env_file: Path) -> list[str]:
    """Append a random value for every compose secret ``env_file`` lacks; never change one.

    A new file is created 0600; returns the names added (never the values).
    """
    existing = env_file.read_text() if env_file.exists() else ""
    defined = {line.split("=", 1)[0].strip() for line in existing.splitlines() if "=" in line}
    missing = [name for name in COMPOSE_SECRETS if name not in defined]
    if not missing:
        return []
    old_umask = os.umask(0o077)
    try:
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    finally:
        os.umask(old_umask)
    with os.fdopen(fd, "a") as handle:
        if existing and not existing.endswith("\n"):
            handle.write("\n")
        handle.write("# docker-compose secrets (criptopipe compose-secrets)\n")
        for name in missing:
            handle.write(f"{name}={secrets.token_urlsafe(32)}\n")
    return missing


def read_secret(path: Path) -> str | None:
    """The stripped text of ``path``, or None when the file is missing or empty."""
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def _explicit(settings: RoleSettings, role: str) -> str | None:
    value: SecretStr | None = getattr(settings, f"{role}_password", None)
    return value.get_secret_value() if value is not None else None


def role_password(settings: RoleSettings, role: str) -> str:
    """``role``'s password: its setting, else its generated secret file. Reads nothing else."""
    if role not in PASSWORD_ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(PASSWORD_ROLES)}")
    explicit = _explicit(settings, role)
    if explicit is not None:
        return explicit
    path = password_file(settings.home, role)
    stored = read_secret(path)
    if stored is None:
        raise ServiceError(
            f"no password for the {role} role: {path} does not exist. Run "
            f"`criptopipe services up` (it generates one), or set "
            f"CRIPTOPIPE_{role.upper()}_PASSWORD."
        )
    return stored


def ensure_role_password(settings: RoleSettings, role: str) -> str:
    """The password, generating the secret file on first use (``services up`` only)."""
    explicit = _explicit(settings, role)
    if explicit is not None:
        return explicit
    path = password_file(settings.home, role)
    if read_secret(path) is None:
        write_secret(path, secrets.token_urlsafe(32))
    return role_password(settings, role)


def address_of(admin_dsn: str) -> str:
    """Where ``admin_dsn`` connects (host, port, TLS options) without who connects."""
    params = {k: v for k, v in conninfo_to_dict(admin_dsn).items() if k not in _IDENTITY_KEYS}
    return make_conninfo("", **params)


def record_address(home: Path, admin_dsn: str | None) -> None:
    """Remember where your own server is, without any credential (``services up``).

    It is for processes that are not given the admin DSN (the dashboard); ``admin_dsn`` None
    forgets it.
    """
    path = address_file(home)
    if admin_dsn is None:
        path.unlink(missing_ok=True)
        return
    text = address_of(admin_dsn)
    if read_secret(path) != text:
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(text + "\n")
        tmp.replace(path)


def server_conninfo(settings: RoleSettings) -> str:
    """Where the roles connect: host, port and connection options, no credentials.

    ``CRIPTOPIPE_POSTGRES_HOST``/``_PORT``; else the address of ``CRIPTOPIPE_POSTGRES_DSN``
    where this process was configured with it (its credentials are dropped); else what
    ``services up`` recorded of it; else the embedded server.
    """
    if settings.postgres_host:
        return make_conninfo("", host=settings.postgres_host, port=str(settings.postgres_port))
    admin: SecretStr | None = getattr(settings, "postgres_dsn", None)
    if admin is not None:
        return address_of(admin.get_secret_value())
    recorded = read_secret(address_file(settings.home))
    if recorded:
        return recorded
    return make_conninfo("", host=LOCAL_HOST, port=str(settings.postgres_port))


def role_dsn(settings: RoleSettings, role: str, database: str | None = None) -> str:
    """A keyword DSN for ``role`` on the warehouse database (or ``database``)."""
    return make_conninfo(
        server_conninfo(settings),
        user=role,
        password=role_password(settings, role),
        dbname=database or settings.postgres_db,
    )


def mask_dsn(dsn: str) -> str:
    """The DSN with every password replaced by ``***`` (for messages and logs).

    Both forms: keyword DSNs (libpq's own parser: quoted values, spaces around ``=``) and
    URLs, where the password may sit in the user info or in the query
    (``?password=…``, any case, any position).
    """
    if "://" not in dsn:
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            return "<a connection string that does not parse>"
        if "password" in params:
            params["password"] = "***"
        return make_conninfo("", **params)
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hosts = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{hosts}"
    query = "&".join(
        f"{name}=***" if name.lower() == "password" else f"{name}={value}" if sep else name
        for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))
