"""A warehouse and lake of a test module's own (real PostgreSQL and MongoDB-protocol server),
so data other tests load never shows up in it (as candle gaps, for one)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import MongoClient

from ingestion.services import Services, postgres
from ingestion.settings import Settings


@contextmanager
def fresh_warehouse(services: Services, base: Settings, database: str) -> Iterator[Settings]:
    """A freshly bootstrapped ``database`` and its lake; both dropped afterwards."""
    lake = f"lake_{database.removeprefix('criptopipe_')}"
    admin = services.postgres_admin_dsn()
    postgres.drop_database(admin, database)
    postgres.bootstrap(admin, database, services.settings)
    try:
        yield base.model_copy(update={"postgres_db": database, "mongo_db": lake})
    finally:
        postgres.drop_database(admin, database)
        with MongoClient[dict[str, Any]](services.mongo_uri()) as client:
            client.drop_database(lake)
