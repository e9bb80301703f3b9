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

from ingestion.run.results import RunSummary
from ingestion.services import Services, credentials, dbt_env, lake_uri
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
        """The ``Settings``, loaded now, with this resource's database overrides."""
        overrides: dict[str, Any] = {}
        if self.postgres_db:
            overrides["postgres_db"] = self.postgres_db
        if self.mongo_db:
            overrides["mongo_db"] = self.mongo_db
        return load_settings(**overrides)


class PostgresResource(ConfigurableResource):
    """The warehouse: PostgreSQL with the ``loader``, ``transformer`` and ``reader`` roles.

    A run holds only the role it asks for: :meth:`dsn` builds that role's DSN from its own
    password, never from the admin DSN. When ``start_services`` is on, the local servers the
    project runs itself are started if they stopped (a reboot); creating databases and roles
    is ``criptopipe services up``'s job, the only one that uses the admin DSN.
    """

    config: CriptopipeSettings
    start_services: bool = Field(
        default=True, description="Start the local PostgreSQL/MongoDB when they are not running."
    )
    _ready: bool = PrivateAttr(default=False)

    @property
    def settings(self) -> Settings:
        """The ``Settings`` this resource points at."""
        return self.config.get()

    def _ensure_running(self, settings: Settings) -> None:
        if self.start_services and not self._ready:
            Services(settings).start_local()
            self._ready = True

    def dsn(self, role: str = "loader") -> str:
        """The DSN of ``role``, built from its own password (local servers started if needed)."""
        settings = self.settings
        self._ensure_running(settings)
        return credentials.role_dsn(settings, role)

    def connect(self, role: str = "loader") -> psycopg.Connection[Any]:
        """An autocommit connection as ``role``."""
        return psycopg.connect(self.dsn(role), autocommit=True)

    def dbt_env(self) -> dict[str, str]:
        """The ``CRIPTOPIPE_DBT_*`` variables ``dbt_project/profiles.yml`` reads."""
        settings = self.settings
        self._ensure_running(settings)
        return dbt_env(settings)

    def export_dbt_env(self) -> None:
        """Point dbt at this warehouse: put its profile's variables in the process environment.

        ``DbtCliResource`` passes ``os.environ`` to the dbt subprocess, which reads its profile from
        there.
        """
        os.environ.update(self.dbt_env())


class MongoResource(ConfigurableResource):
    """The lake: the MongoDB-protocol server holding ``lake.responses``."""

    config: CriptopipeSettings

    def uri(self) -> str:
        """The lake writer's URI."""
        return lake_uri(self.config.get())

    def database(self) -> str:
        """The lake's database name."""
        return self.config.get().mongo_db


class IngestionResource(ConfigurableResource):
    """Runs ``ingestion.run.ingest.run_ingestion`` for a selection of endpoints and a window."""

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
        """Ingest one endpoint over ``start`` .. ``end`` (None: its default window)."""
        from ingestion.run.ingest import run_ingestion

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
