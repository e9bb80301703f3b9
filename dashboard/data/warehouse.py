"""The connection to the warehouse: the reader's DSN, cached read-only queries, status.

Every query of the package goes through :func:`read_market` or :func:`read_health`: a
read-only connection as the ``reader`` role, the result cached (``st.cache_data``) for a
few minutes, keyed by the database, the SQL and its parameters. Connections are kept open
for the next query (a few idle ones per database): opening one costs tens of milliseconds
(authentication), far more than most of the dashboard's queries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any, LiteralString

import pandas as pd
import psycopg
import streamlit as st
from psycopg.types.numeric import FloatLoader

from ingestion.errors import IngestionError

logger = logging.getLogger(__name__)

TTL_MARKET = timedelta(minutes=5)  # marts are rebuilt at most hourly
TTL_HEALTH = timedelta(minutes=1)  # the health page should notice a run quickly
CONNECT_TIMEOUT_SECONDS = 3
MAX_IDLE_CONNECTIONS = 4  # per database: open connections kept for the next queries

MARTS_SCHEMA = "marts"

_idle: dict[str, list[psycopg.Connection[Any]]] = {}
_idle_lock = threading.Lock()


class DataUnavailable(IngestionError, RuntimeError):
    """The warehouse cannot answer: not reachable, or not configured."""


@dataclass(frozen=True)
class WarehouseStatus:
    """Whether there is anything to show, and if not, why."""

    ready: bool
    reason: str  # one line for the empty state when not ready
    marts: tuple[str, ...] = ()


DSN_TTL_SECONDS = 60.0  # how long the resolved reader DSN is reused (see reader_dsn)
_dsns: dict[tuple[tuple[str, str], ...], tuple[float, str]] = {}


def _environment_key() -> tuple[tuple[str, str], ...]:
    """The ``CRIPTOPIPE_*`` environment: what the resolved DSN is remembered under."""
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("CRIPTOPIPE_")))


def reader_dsn() -> str:
    """The read-only ``reader`` role's DSN for the configured warehouse database.

    Built from :class:`~ingestion.settings.ReaderSettings` only: the server's address and
    the reader's own password. The dashboard never loads the admin DSN, the superuser's
    secret file or another role's password, even when ``.env`` holds them; it never
    starts a service.

    Resolving the settings reads ``.env`` and the reader's password file (several
    milliseconds), and a page asks for the DSN once per query: the answer is reused for
    :data:`DSN_TTL_SECONDS` while the ``CRIPTOPIPE_*`` environment stays the same, and
    :func:`clear_cache` ("Refresh data") forgets it.
    """
    from ingestion.services import credentials
    from ingestion.settings import ReaderSettings

    key = _environment_key()
    now = monotonic()
    with _idle_lock:
        remembered = _dsns.get(key)
    if remembered and now - remembered[0] < DSN_TTL_SECONDS:
        return remembered[1]
    try:
        dsn = credentials.role_dsn(ReaderSettings(), "reader")
    except Exception as err:  # no reader password yet, bad configuration, ...
        raise DataUnavailable(f"the warehouse is not set up ({err})") from err
    with _idle_lock:
        _dsns.clear()  # one configuration at a time: no stale passwords kept around
        _dsns[key] = (now, dsn)
    return dsn


def _connect(dsn: str) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(
            dsn,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            autocommit=True,
            application_name="criptopipe-dashboard",
        )
    except psycopg.OperationalError as err:
        raise DataUnavailable("the warehouse database is not reachable") from err
    # Charts want floats: load PostgreSQL numeric as float directly instead of Decimal
    # (exact money arithmetic happens in dbt; here it is display only, and much faster).
    conn.adapters.register_loader("numeric", FloatLoader)
    # Timestamps in UTC as datetime.timezone.utc (psycopg maps the session's "UTC" to it):
    # pandas turns those into a datetime column several times faster than zoneinfo ones
    # (4 k 1m candles: ~4 ms instead of ~20-30 ms). The instants are the same either way.
    try:
        conn.execute("set time zone 'UTC'")
    except psycopg.Error:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def _connection(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """An open connection to ``dsn``: an idle one if there is one, else a new one.

    Kept open for the next query afterwards (closed if too many are idle or it broke).
    """
    with _idle_lock:
        idle = _idle.setdefault(dsn, [])
        conn = idle.pop() if idle else None
    if conn is None or conn.closed:
        conn = _connect(dsn)
        conn.read_only = True
    try:
        yield conn
    finally:
        with _idle_lock:
            idle = _idle.setdefault(dsn, [])
            keep = not conn.closed and not conn.broken and len(idle) < MAX_IDLE_CONNECTIONS
            if keep:
                idle.append(conn)
        if not keep:
            conn.close()


def close_connections() -> None:
    """Close every idle connection (the next query opens a new one)."""
    with _idle_lock:
        connections = [conn for idle in _idle.values() for conn in idle]
        _idle.clear()
    for conn in connections:
        conn.close()


def _execute(dsn: str, query: LiteralString, params: dict[str, Any]) -> pd.DataFrame:
    with _connection(dsn) as conn:
        cursor = conn.execute(query, params)
        columns = [c.name for c in cursor.description or ()]
        return pd.DataFrame(cursor.fetchall(), columns=columns)


def _is_lost_connection(err: psycopg.OperationalError) -> bool:
    """Whether the connection is gone rather than the query wrong.

    No SQLSTATE (the socket closed), 08 (connection exception) or 57P (the server shut
    down or terminated the backend).
    """
    return err.sqlstate is None or err.sqlstate.startswith(("08", "57P"))


def _frame(dsn: str, query: LiteralString, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """Run one read-only query; a mart that does not exist yet reads as an empty frame."""
    for attempt in (1, 2):
        try:
            return _execute(dsn, query, params or {})
        except psycopg.OperationalError as err:
            # A kept connection the server closed since (a restart, an idle timeout, a
            # terminated backend): the query once more on a new connection. Anything else
            # (a cancelled statement, …) is the query's own error.
            if not _is_lost_connection(err):
                raise
            if attempt == 2:
                raise DataUnavailable("the warehouse database is not reachable") from err
            logger.info("dashboard: a kept connection was closed (%s); reconnecting", err)
            close_connections()  # the others were most likely closed with it
        except psycopg.errors.UndefinedTable as err:
            logger.info("mart not built yet: %s", err.diag.message_primary)
            return pd.DataFrame()
        except psycopg.errors.UndefinedColumn as err:
            # A mart whose contract changed under us: show the gap, do not crash the page.
            logger.warning("mart column missing: %s", err.diag.message_primary)
            return pd.DataFrame()
    raise AssertionError("unreachable")  # pragma: no cover


READ_ID = "criptopipe.read_id"  # the key in a read frame's ``attrs`` (see read_id)


@st.cache_data(ttl=TTL_MARKET, show_spinner=False)
def _cached(dsn: str, query: LiteralString, params: dict[str, Any] | None = None) -> pd.DataFrame:
    frame = _frame(dsn, query, params)
    frame.attrs[READ_ID] = uuid.uuid4().hex  # kept with the cached rows, new at each query
    return frame


def read_id(frame: pd.DataFrame) -> str | None:
    """Which query-cache entry a frame of :func:`read_market` was read from, else None.

    The same query gives the same id until its entry is queried again (the TTL ran out,
    "Refresh data"); then a new one, whether or not the rows changed. Only the frame as
    read identifies its rows: pandas carries ``attrs`` over to copies and derived frames,
    which keep the id whatever they changed.

    Args:
        frame: A frame as :func:`read_market` returned it.

    Returns:
        The id, or None for a frame that was not read through the market query cache.
    """
    value = frame.attrs.get(READ_ID)
    return value if isinstance(value, str) else None


@st.cache_data(ttl=TTL_HEALTH, show_spinner=False)
def _cached_health(
    dsn: str, query: LiteralString, params: dict[str, Any] | None = None
) -> pd.DataFrame:
    return _frame(dsn, query, params)


def read_market(query: LiteralString, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """A market query's rows, cached for ``TTL_MARKET`` (a copy the caller may change).

    Args:
        query: The SQL, a literal with psycopg placeholders.
        params: The placeholders' values.

    Returns:
        The rows (empty when the mart is not built yet).
    """
    return _cached(reader_dsn(), query, params).copy()


def read_health(query: LiteralString, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """A Data health query's rows, cached for ``TTL_HEALTH`` (a copy the caller may change).

    Args:
        query: The SQL, a literal with psycopg placeholders.
        params: The placeholders' values.

    Returns:
        The rows (empty when the mart is not built yet).
    """
    return _cached_health(reader_dsn(), query, params).copy()


def clear_cache() -> None:
    """Forget every cached query and the resolved DSN (the sidebar's "Refresh" button)."""
    _cached.clear()
    _cached_health.clear()
    with _idle_lock:
        _dsns.clear()


def day_window(start: date, end: date) -> dict[str, datetime]:
    """Days ``start`` to ``end`` inclusive as a half-open UTC timestamp range."""
    return {
        "start": datetime.combine(start, time(), UTC),
        "end": datetime.combine(end + timedelta(days=1), time(), UTC),
    }


def warehouse_status() -> WarehouseStatus:
    """Can the dashboard show anything? Not cached: the answer is one cheap catalogue query.

    It runs on a kept connection, as every query (one the server closed since is replaced).
    """
    try:
        frame = _frame(
            reader_dsn(),
            """
            select table_name
            from information_schema.tables
            where table_schema = %(schema)s
            order by table_name
            """,
            {"schema": MARTS_SCHEMA},
        )
    except DataUnavailable as err:
        return WarehouseStatus(False, str(err))
    except psycopg.Error as err:
        return WarehouseStatus(False, f"the warehouse refused the query ({err.sqlstate})")
    marts = tuple(frame["table_name"]) if not frame.empty else ()
    if not marts:
        return WarehouseStatus(False, "no mart has been built yet")
    return WarehouseStatus(True, "", marts)
