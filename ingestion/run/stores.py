"""Where a run writes: the ``loader`` role's DSN and the lake's URI, resolved from settings.

Nothing here starts a server: the CLI and the Dagster resources do that first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psycopg

from ingestion.connections import mongo_client
from ingestion.settings import Settings
from ingestion.sinks.lake import Lake
from ingestion.sinks.raw.schema import ensure_schema


@dataclass(frozen=True, slots=True)
class StoreTargets:
    """The two stores of a run: PostgreSQL as the loader role, and the lake."""

    loader_dsn: str
    mongo_uri: str
    mongo_db: str


def resolve_stores(settings: Settings) -> StoreTargets:
    """Where to write: the ``loader`` role's DSN and the lake's URI (nothing is started)."""
    from ingestion.services import credentials, lake_uri

    # the loader's own password and the lake writer's URI: never the admin DSN
    return StoreTargets(
        credentials.role_dsn(settings, "loader"), lake_uri(settings), settings.mongo_db
    )


@contextlib.asynccontextmanager
async def open_lake(settings: Settings) -> AsyncIterator[Lake]:
    """The lake of ``settings`` (for reading it, e.g. ``criptopipe lake show``)."""
    from ingestion.services import lake_reader_uri

    client = mongo_client(settings, lake_reader_uri(settings))
    try:
        yield Lake.connect(client, settings.mongo_db)
    finally:
        await client.close()


def ensure_raw_schema(settings: Settings) -> None:
    """Create the raw tables if missing (what dbt's sources read), as the loader role."""

    async def ensure() -> None:
        async with await psycopg.AsyncConnection.connect(
            resolve_stores(settings).loader_dsn, autocommit=True
        ) as conn:
            await ensure_schema(conn)

    asyncio.run(ensure())
