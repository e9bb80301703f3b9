"""Fixtures of the dbt tests: a warehouse database per test module, raw data, dbt runs.

Each module gets a database of its own (``criptopipe_dbt_<module>_<pid>``), so the dbt
tests never see rows other tests load into the session database, and a test that changes
raw data cannot disturb another module's assertions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbt_helpers import DbtDatabase, create_database, drop_database

from ingestion.services import Services
from ingestion.settings import Settings


def _module_database(
    request: pytest.FixtureRequest,
    services: Services,
    base_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DbtDatabase]:
    module = Path(str(request.module.__file__)).stem.removeprefix("test_dbt_")
    name = f"criptopipe_dbt_{module}_{os.getpid()}"
    db = create_database(
        services.postgres_admin_dsn(),
        services.mongo_uri(),
        name,
        base_settings,
        tmp_path_factory.mktemp(name),
    )
    yield db
    drop_database(db)


@pytest.fixture(scope="module")
def dbt_db(
    request: pytest.FixtureRequest,
    services: Services,
    base_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DbtDatabase]:
    """An empty warehouse database (roles, schemas) for this test module."""
    yield from _module_database(request, services, base_settings, tmp_path_factory)
