"""Dagster resources: thin, configurable views over criptopipe's ``Settings``.

Configuration is read by ``ingestion.settings`` (pydantic-settings, ``CRIPTOPIPE_``
environment variables and ``.env``) when a run or a sensor tick uses a resource, never when
the definitions load. Each resource may override the database it points at, which is how
the tests keep their data apart; every field can be fed from an environment variable with
an (unresolved) ``EnvVar``. The optional ``CRIPTOPIPE_DAGSTER_POSTGRES_DB`` /
``CRIPTOPIPE_DAGSTER_MONGO_DB`` override the databases for the Dagster process alone; they
are read at run time too (an ``EnvVar`` cannot be optional: Dagster fails a run whose
``EnvVar`` is unset).
"""

from __future__ import annotations

import asyncio
import os
from datetime import date, datetime
from typing import Any

import psycopg
from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingestion.run.results import RunSummary
from ingestion.services import Services, credentials, dbt_env, lake_uri
from ingestion.settings import Settings, load_settings


class DagsterDatabases(BaseSettings):
    """``CRIPTOPIPE_DAGSTER_POSTGRES_DB`` / ``_MONGO_DB``: databases for Dagster alone."""

    model_config = SettingsConfigDict(env_prefix="CRIPTOPIPE_DAGSTER_", extra="ignore")

    postgres_db: str | None = None
    mongo_db: str | None = None


class CriptopipeSettings(ConfigurableResource):
    """The ingestion/HTTP configuration: ``Settings`` with optional database overrides."""

    postgres_db: str | None = Field(
        default=None, description="Warehouse database (default CRIPTOPIPE_POSTGRES_DB)."
    )
    mongo_db: str | None = Field(
        default=None, description="Lake database (default CRIPTOPIPE_MONGO_DB)."
    )

    def get(self) -> Settings:
        """The settings, read now, with this resource's databases (else Dagster's own).

        Returns:
            The settings a run or a sensor tick works with.
        """
        dagster = DagsterDatabases()
        overrides: dict[str, Any] = {}
        if self.postgres_db or dagster.postgres_db:
            overrides["postgres_db"] = self.postgres_db or dagster.postgres_db
        if self.mongo_db or dagster.mongo_db:
            overrides["mongo_db"] = self.mongo_db or dagster.mongo_db
        return load_settings(**overrides)


class PostgresResource(ConfigurableResource):
    """The warehouse: PostgreSQL with the ``loader``, ``transformer`` and ``reader`` roles.

    A run holds only the role it asks for: :meth:`dsn` builds that role's DSN from its own
    password, never from the admin DSN. When ``start_services`` is on, the local servers the
    project runs itself are started if they stopped (a reboot) when Dagster sets the
    resource up for a run or a sensor tick (:meth:`setup_for_execution`), never by a getter
    and never at load; creating databases and roles is ``criptopipe services up``'s job, the
    only one that uses the admin DSN.
    """

    config: CriptopipeSettings
    start_services: bool = Field(
        default=True, description="Start the local PostgreSQL/MongoDB when they are not running."
    )

    @property
    def settings(self) -> Settings:
        """The settings of the warehouse this resource points at (read now)."""
        return self.config.get()

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Start the local servers the project runs itself, if they stopped.

        Args:
            context: Dagster's resource initialisation context (unused).
        """
        if self.start_services:
            Services(self.settings).start_local()

    def dsn(self, role: str = "loader") -> str:
        """The DSN of one role (``loader``, ``transformer``, ``reader``), from its password.

        Args:
            role: The database role.

        Returns:
            The DSN (it carries the role's password: never log it).
        """
        return credentials.role_dsn(self.settings, role)

    def connect(self, role: str = "loader") -> psycopg.Connection[Any]:
        """An autocommit connection as ``role``.

        Args:
            role: The database role.

        Returns:
            The open connection.
        """
        return psycopg.connect(self.dsn(role), autocommit=True)

    def dbt_env(self) -> dict[str, str]:
        """The ``CRIPTOPIPE_DBT_*`` variables ``dbt_project/profiles.yml`` reads."""
        return dbt_env(self.settings)

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
