"""Dagster resources: thin, configurable views over criptopipe's ``Settings``.

Configuration is read once by ``ingestion.settings`` (pydantic-settings, ``CRIPTOPIPE_``
environment variables and ``.env``). Each resource may override the database it points at,
which is how ``criptopipe run --database`` and the tests keep their data apart; every field
can be fed from an environment variable with ``EnvVar`` in ``definitions.py``.
"""

from __future__ import annotations

import asyncio
import os
from datetime import date, datetime
from typing import Any

import psycopg
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from ingestion.runner import RunSummary
from ingestion.services import Endpoints, Services
from ingestion.settings import Settings, load_settings


class CriptopipeSettings(ConfigurableResource):
    """The ingestion/HTTP configuration: ``Settings`` with optional database overrides."""

    postgres_db: str | None = Field(
        default=None, description="Warehouse database (default CRIPTOPIPE_POSTGRES_DB)."
    )
    mongo_db: str | None = Field(
        default=None, description="Lake database (default CRIPTOPIPE_MONGO_DB)."
    )

    def get(self) -> Settings:
        overrides: dict[str, Any] = {}
        if self.postgres_db:
            overrides["postgres_db"] = self.postgres_db
        if self.mongo_db:
            overrides["mongo_db"] = self.mongo_db
        return load_settings(**overrides)


class PostgresResource(ConfigurableResource):
    """The warehouse: PostgreSQL with the ``loader``, ``transformer`` and ``reader`` roles.

    ``ensure_up`` starts the local servers the project runs itself (a no-op when they are
    running or external) and creates the database, so a run in a fresh Dagster process works.
    """

    config: CriptopipeSettings
    start_services: bool = Field(
        default=True, description="Start the local PostgreSQL/MongoDB when they are not running."
    )
    _ready: bool = PrivateAttr(default=False)

    @property
    def settings(self) -> Settings:
        return self.config.get()

    def endpoints(self, settings: Settings | None = None) -> Endpoints:
        settings = settings or self.settings
        services = Services(settings)
        if self.start_services and not self._ready:
            services.up(settings.postgres_db)
            self._ready = True
        return services.endpoints(settings.postgres_db)

    def dsn(self, role: str = "loader") -> str:
        settings = self.settings
        return self.endpoints(settings).role_dsn(role, settings)

    def connect(self, role: str = "loader") -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn(role), autocommit=True)

    def dbt_env(self) -> dict[str, str]:
        """The ``CRIPTOPIPE_DBT_*`` variables ``dbt_project/profiles.yml`` reads."""
        settings = self.settings
        return self.endpoints(settings).dbt_env(settings)

    def export_dbt_env(self) -> None:
        """dbt reads its profile from the process environment (``DbtCliResource`` passes
        ``os.environ`` to the dbt subprocess), so point it at this warehouse."""
        os.environ.update(self.dbt_env())


class MongoResource(ConfigurableResource):
    """The lake: the MongoDB-protocol server holding ``lake.responses``."""

    config: CriptopipeSettings

    def uri(self) -> str:
        return Services(self.config.get()).mongo_uri()

    def database(self) -> str:
        return self.config.get().mongo_db


class IngestionResource(ConfigurableResource):
    """Runs ``ingestion.runner.run_ingestion`` for a selection of endpoints and a window."""

    config: CriptopipeSettings

    def run(
        self,
        *,
        source: str,
        endpoint: str,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        run_id: str | None = None,
    ) -> RunSummary:
        from ingestion.runner import run_ingestion

        settings = self.config.get()
        return asyncio.run(
            run_ingestion(
                settings,
                sources=[source],
                endpoints=[endpoint],
                start=start,
                end=end,
                run_id=run_id,
            )
        )
