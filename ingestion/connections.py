"""How ingestion connects to its two servers: deadlines everywhere, so no fault hangs a run.

PostgreSQL: a connect timeout, TCP keepalives (a dead peer is noticed within about a
minute), a server-side ``statement_timeout`` and ``idle_in_transaction_session_timeout``
(a client that stops halfway cannot hold raw rows locked). MongoDB: server-selection,
connect and socket timeouts, and the write concern the lake is written with (journaled
by default: a document the lake acknowledged survives a crash of the server).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pymongo import AsyncMongoClient

from ingestion.errors import StoreUnavailableError
from ingestion.settings import Settings


def pg_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``psycopg.AsyncConnection.connect`` for ingestion."""
    statement_ms = int(settings.postgres_statement_timeout_seconds * 1000)
    # A transaction may wait for the lake's acknowledgement, up to its deadline.
    idle_ms = int((settings.lake_ack_timeout_seconds + 60) * 1000)
    return {
        "connect_timeout": max(1, round(settings.postgres_connect_timeout_seconds)),
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "options": f"-c statement_timeout={statement_ms} "
        f"-c idle_in_transaction_session_timeout={idle_ms}",
    }


async def pg_connect(settings: Settings, dsn: str, **kwargs: Any) -> psycopg.AsyncConnection[Any]:
    """An autocommit connection to ``dsn`` with ingestion's timeouts."""
    return await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, **{**pg_options(settings), **kwargs}
    )


def pg_deadline(settings: Settings) -> float | None:
    """Longest a raw batch may take on the client's side; None when statements have no limit.

    It covers the batch's statements, the lake's acknowledgement, and a margin.
    ``statement_timeout`` is the server's, and a hung server (stopped, not gone: the kernel
    still answers TCP) enforces nothing; this deadline is the client's.
    """
    if settings.postgres_statement_timeout_seconds <= 0:
        return None
    return (
        settings.postgres_statement_timeout_seconds
        + settings.lake_ack_timeout_seconds
        + settings.postgres_connect_timeout_seconds
    )


def bookkeeping_deadline(settings: Settings) -> float:
    """Longest the write of a run's row may take (one small statement)."""
    return 2 * settings.postgres_connect_timeout_seconds + 5


def mongo_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``AsyncMongoClient`` for ingestion."""
    return {
        "tz_aware": True,
        "serverSelectionTimeoutMS": int(settings.mongo_server_selection_timeout_seconds * 1000),
        "connectTimeoutMS": int(settings.mongo_server_selection_timeout_seconds * 1000),
        "socketTimeoutMS": int(settings.mongo_socket_timeout_seconds * 1000),
        "w": 1,
        "journal": settings.mongo_journal,
    }


def mongo_client(settings: Settings, uri: str) -> AsyncMongoClient[dict[str, Any]]:
    """A client of the lake at ``uri`` with ingestion's options (timeouts, write concern)."""
    return AsyncMongoClient(uri, **mongo_options(settings))


def describe_pg(dsn: str) -> str:
    """``host:port/database`` of a DSN (never its password)."""
    try:
        info = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "the configured server"
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def describe_mongo(uri: str) -> str:
    """The hosts of a MongoDB URI (never its credentials)."""
    hosts = uri.split("://", 1)[-1].rsplit("@", 1)[-1].split("/", 1)[0]
    return hosts or uri


def short_error(err: BaseException) -> str:
    """The first, human part of a driver's error (pymongo appends its whole topology)."""
    text = str(err).strip() or type(err).__name__
    for cut in (", Timeout:", " (configured timeouts", "\n"):
        text = text.split(cut, 1)[0]
    return text[:300]


def pg_unavailable(dsn: str, err: BaseException) -> StoreUnavailableError:
    """The error for a PostgreSQL that cannot be reached: where (no password) and what to check."""
    return StoreUnavailableError(
        f"PostgreSQL at {describe_pg(dsn)} is unreachable: {short_error(err)}; is it running "
        "(`criptopipe services status`)?"
    )


def mongo_unavailable(uri: str, err: BaseException) -> StoreUnavailableError:
    """The error for a lake that cannot be reached: where (no password) and what to check."""
    return StoreUnavailableError(
        f"MongoDB (the lake) at {describe_mongo(uri)} is unreachable: {short_error(err)}; is "
        "it running (`criptopipe services status`)?"
    )
