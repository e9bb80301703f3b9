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


# Files that are an xdist group of their own instead of their directory's: slow modules whose
# expensive fixtures are the module's (a warehouse built for it), so they can run on the
# other worker while the rest of their directory runs.
OWN_GROUP = {
    "dbt/test_dbt_incremental.py": "dbt_incremental",
    "dbt/test_dbt_analytics.py": "dbt_analytics",
    "orchestration/test_first_ticks.py": "orchestration_first_ticks",
}
# Roughly how long each group takes on one worker, in seconds of the CI machine (today's
# --durations of the whole suite, scaled to the last fresh-clone CI's 809 s). The longest
# group starts first (the soak first of all), so the two workers finish together; a group
# not listed runs after these, in collection order.
GROUP_SECONDS = {
    "soak": 500,  # 342 s at load 2, 612 s at load 6-10, dbt in process (803-866 s before)
    "orchestration": 420,
    "dbt_incremental": 210,
    "dashboard": 200,
    "dbt": 195,
    "orchestration_first_ticks": 160,
    "ingestion": 135,
    "dbt_analytics": 105,
    "chaos": 60,
}


def xdist_group(path: Path) -> str:
    """The pytest-xdist group of a test file: its directory's, or its own (``OWN_GROUP``)."""
    relative = path.resolve().relative_to(TESTS)
    if len(relative.parts) == 1:
        return "top"
    return OWN_GROUP.get(relative.as_posix(), relative.parts[0])


def pytest_configure(config: pytest.Config) -> None:
    """Let pytest-xdist hand out the groups in collection order (see below), not by size."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep each test directory (or ``OWN_GROUP`` file) on one xdist worker (``--dist loadgroup``).

    The expensive session fixtures (a demo warehouse, dbt databases, a Dagster instance)
    belong to a directory, so a worker builds each once instead of every worker building it.
    The groups are ordered longest first (``GROUP_SECONDS``): a worker takes the next group
    when it is done with one, so the short groups at the end even the two workers out. (By
    default pytest-xdist orders them by their number of tests, which put the one-test soak
    last, behind everything else.)
    """
    groups = {item: xdist_group(item.path) for item in items}
    for item, group in groups.items():
        item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lambda item: -GROUP_SECONDS.get(groups[item], 0))  # stable: files keep order


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
