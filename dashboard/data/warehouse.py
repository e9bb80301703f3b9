"""The connection to the warehouse: the reader's DSN, cached read-only queries, status.

Every query of the package goes through :func:`read_market` or :func:`read_health`: one
read-only connection as the ``reader`` role, the result cached (``st.cache_data``) for a
few minutes, keyed by the database, the SQL and its parameters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
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

MARTS_SCHEMA = "marts"


class DataUnavailable(IngestionError, RuntimeError):
    """The warehouse cannot answer: not reachable, or not configured."""


@dataclass(frozen=True)
class WarehouseStatus:
    """Whether there is anything to show, and if not, why."""

    ready: bool
    reason: str  # one line for the empty state when not ready
    marts: tuple[str, ...] = ()


def reader_dsn() -> str:
    """The read-only ``reader`` role's DSN for the configured warehouse database.

    Built from :class:`~ingestion.settings.ReaderSettings` only: the server's address and
    the reader's own password. The dashboard never loads the admin DSN, the superuser's
    secret file or another role's password, even when ``.env`` holds them; it never
    starts a service.
    """
    from ingestion.services import credentials
    from ingestion.settings import ReaderSettings

    try:
        return credentials.role_dsn(ReaderSettings(), "reader")
    except Exception as err:  # no reader password yet, bad configuration, ...
        raise DataUnavailable(f"the warehouse is not set up ({err})") from err


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
    return conn


def _frame(dsn: str, query: LiteralString, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """Run one read-only query; a mart that does not exist yet reads as an empty frame."""
    with _connect(dsn) as conn:
        conn.read_only = True
        try:
            cursor = conn.execute(query, params or {})
        except psycopg.errors.UndefinedTable as err:
            logger.info("mart not built yet: %s", err.diag.message_primary)
            return pd.DataFrame()
        except psycopg.errors.UndefinedColumn as err:
            # A mart whose contract changed under us: show the gap, do not crash the page.
            logger.warning("mart column missing: %s", err.diag.message_primary)
            return pd.DataFrame()
        columns = [c.name for c in cursor.description or ()]
        return pd.DataFrame(cursor.fetchall(), columns=columns)


@st.cache_data(ttl=TTL_MARKET, show_spinner=False)
def _cached(dsn: str, query: LiteralString, params: dict[str, Any] | None = None) -> pd.DataFrame:
    return _frame(dsn, query, params)


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
    """Forget every cached query (the sidebar's "Refresh" button)."""
    _cached.clear()
    _cached_health.clear()


def day_window(start: date, end: date) -> dict[str, datetime]:
    """Days ``start`` to ``end`` inclusive as a half-open UTC timestamp range."""
    return {
        "start": datetime.combine(start, time(), UTC),
        "end": datetime.combine(end + timedelta(days=1), time(), UTC),
    }


def warehouse_status() -> WarehouseStatus:
    """Can the dashboard show anything? Not cached: the answer is one cheap catalogue query."""
    try:
        dsn = reader_dsn()
        with _connect(dsn) as conn:
            rows = conn.execute(
                """
                select table_name
                from information_schema.tables
                where table_schema = %(schema)s
                order by table_name
                """,
                {"schema": MARTS_SCHEMA},
            ).fetchall()
    except DataUnavailable as err:
        return WarehouseStatus(False, str(err))
    except psycopg.Error as err:
        return WarehouseStatus(False, f"the warehouse refused the query ({err.sqlstate})")
    marts = tuple(row[0] for row in rows)
    if not marts:
        return WarehouseStatus(False, "no mart has been built yet")
    return WarehouseStatus(True, "", marts)
