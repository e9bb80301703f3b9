"""The dashboard keeps its connections open: opening one (authentication) costs far more
than most of its queries. A connection the server closed since is replaced unnoticed."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

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
