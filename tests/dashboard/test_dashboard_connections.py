"""The dashboard keeps its connections open: opening one (authentication) costs far more
than most of its queries. A connection the server closed since is replaced unnoticed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from dashboard import data
from dashboard.data.warehouse import read_market
from ingestion.services import Endpoints, postgres


def _backend_pid() -> int:
    data.clear_cache()  # a cold query each time: it reaches the database
    return int(read_market("select pg_backend_pid() as pid")["pid"].iloc[0])


def test_cold_queries_reuse_one_connection(
    empty_database: str, use_database: Callable[[str], None]
) -> None:
    use_database(empty_database)
    assert len({_backend_pid() for _ in range(3)}) == 1


def test_a_connection_the_server_closed_is_replaced(
    empty_database: str, use_database: Callable[[str], None], endpoints: Endpoints
) -> None:
    use_database(empty_database)
    kept = _backend_pid()
    admin = postgres.with_database(endpoints.postgres_admin_dsn, empty_database)
    with psycopg.connect(admin, autocommit=True) as conn:
        assert conn.execute("select pg_terminate_backend(%s)", [kept]).fetchone() == (True,)
    replaced = _backend_pid()  # no error: the query ran again on a new connection
    assert replaced != kept
    assert _backend_pid() == replaced


def test_the_status_check_uses_the_kept_connection(
    empty_database: str,
    use_database: Callable[[str], None],
    endpoints: Endpoints,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every page starts with the status check: it runs on the kept connection too (a new
    one per page view cost an authentication), and one the server closed is replaced."""
    from dashboard.data import warehouse

    opened: list[int] = []
    connect = warehouse._connect

    def counting_connect(dsn: str) -> psycopg.Connection[Any]:
        conn = connect(dsn)  # a real connection; only counted
        opened.append(conn.info.backend_pid)
        return conn

    monkeypatch.setattr(warehouse, "_connect", counting_connect)
    use_database(empty_database)
    kept = _backend_pid()
    for _ in range(3):
        assert data.warehouse_status().reason == "no mart has been built yet"
    assert len(opened) <= 1  # the first query's, if none was kept before
    admin = postgres.with_database(endpoints.postgres_admin_dsn, empty_database)
    with psycopg.connect(admin, autocommit=True) as conn:
        assert conn.execute("select pg_terminate_backend(%s)", [kept]).fetchone() == (True,)
    assert data.warehouse_status().reason == "no mart has been built yet"
    assert opened[-1] != kept


def test_the_dsn_is_resolved_once_and_follows_the_environment(
    empty_database: str,
    use_database: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Resolving the reader's DSN reads .env and the password file: a page's queries resolve
    it once, a changed CRIPTOPIPE_* environment resolves it again, and so does Refresh."""
    from ingestion import settings

    resolved: list[str] = []

    class CountingReaderSettings(settings.ReaderSettings):
        def __init__(self) -> None:
            super().__init__()
            resolved.append(self.postgres_db)

    monkeypatch.setattr(settings, "ReaderSettings", CountingReaderSettings)
    use_database(empty_database)
    for n in range(3):  # a page's queries
        read_market("select %(n)s::int as n", {"n": n})
    assert resolved == [empty_database]
    data.clear_cache()  # "Refresh data"
    read_market("select 1 as n")
    assert resolved == [empty_database] * 2
    monkeypatch.setenv("CRIPTOPIPE_POSTGRES_DB", "criptopipe_elsewhere")
    assert "criptopipe_elsewhere" in data.reader_dsn()
    assert resolved == [empty_database] * 2 + ["criptopipe_elsewhere"]


def test_timestamps_arrive_in_utc(empty_database: str, use_database: Callable[[str], None]) -> None:
    """Datetime columns come as datetime.timezone.utc (pandas builds those several times
    faster than zoneinfo ones), whatever the server's time zone."""
    use_database(empty_database)
    frame = read_market(
        "select '2025-03-01 12:00+01'::timestamptz as at, current_setting('TimeZone') as zone"
    )
    assert frame["zone"].iloc[0] == "UTC"
    assert frame["at"].dt.tz == UTC
    assert frame["at"].iloc[0] == datetime(2025, 3, 1, 11, tzinfo=UTC)
