"""Shared fixtures: the real local PostgreSQL and MongoDB-protocol server.

The session starts the project's services (``criptopipe services up`` does the same) unless
``CRIPTOPIPE_POSTGRES_DSN`` / ``CRIPTOPIPE_MONGO_URI`` point at servers of your own, then
gives the tests a fresh database on each: ``criptopipe_test_<pid>`` in PostgreSQL (with the
three roles) and ``lake_test_<pid>`` in MongoDB, both dropped at the end.
Nothing here is mocked: every test talks to a real server over a real connection.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingestion.services import Endpoints, Services, postgres
from ingestion.settings import Settings, load_settings

FIXTURES = Path(__file__).resolve().parent / "fixtures"  # real saved API responses


TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep each test directory on one pytest-xdist worker (``--dist loadgroup``).

    The expensive session fixtures (a demo warehouse, dbt databases, a Dagster instance)
    belong to a directory, so a worker builds each once instead of every worker building it.
    """
    for item in items:
        relative = item.path.resolve().relative_to(TESTS)
        group = relative.parts[0] if len(relative.parts) > 1 else "top"
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    """Settings as a user has them (environment and .env), state under the project."""
    return load_settings()


@pytest.fixture(scope="session")
def services(base_settings: Settings) -> Services:
    services = Services(base_settings)
    services.up()
    return services


@pytest.fixture(scope="session")
def test_db_name() -> str:
    return f"criptopipe_test_{os.getpid()}"


@pytest.fixture(scope="session")
def endpoints(services: Services, test_db_name: str) -> Iterator[Endpoints]:
    """A fresh warehouse database with roles and schemas; dropped after the session."""
    admin = services.postgres_admin_dsn()
    postgres.drop_database(admin, test_db_name)
    postgres.bootstrap(admin, test_db_name, services.settings)
    yield services.endpoints(test_db_name)
    postgres.drop_database(admin, test_db_name)


@pytest.fixture(scope="session")
def settings(base_settings: Settings, endpoints: Endpoints, test_db_name: str) -> Settings:
    """Settings pointing at the test databases."""
    return base_settings.model_copy(
        update={"postgres_db": test_db_name, "mongo_db": f"lake_test_{os.getpid()}"}
    )


@pytest.fixture(scope="session")
def admin_dsn(endpoints: Endpoints) -> str:
    return postgres.with_database(endpoints.postgres_admin_dsn, endpoints.database)


@pytest.fixture(scope="session")
def loader_dsn(endpoints: Endpoints, settings: Settings) -> str:
    return endpoints.role_dsn("loader", settings)


@pytest.fixture(scope="session")
def transformer_dsn(endpoints: Endpoints, settings: Settings) -> str:
    return endpoints.role_dsn("transformer", settings)


@pytest.fixture(scope="session")
def reader_dsn(endpoints: Endpoints, settings: Settings) -> str:
    return endpoints.role_dsn("reader", settings)


@pytest.fixture(scope="session")
def mongo_uri(endpoints: Endpoints) -> str:
    return endpoints.mongo_uri


@pytest.fixture(scope="session")
def mongo_db_name(settings: Settings, mongo_uri: str) -> Iterator[str]:
    from pymongo import MongoClient

    name = settings.mongo_db
    with MongoClient[dict[str, Any]](mongo_uri) as client:
        client.drop_database(name)
    yield name
    with MongoClient[dict[str, Any]](mongo_uri) as client:
        client.drop_database(name)
