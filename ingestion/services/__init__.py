"""Local services: which PostgreSQL and MongoDB-protocol server criptopipe uses, and their life.

Resolution, for each: an explicit URL in the environment wins; otherwise a server the
project starts itself under ``<home>`` (``.criptopipe/`` by default).
"""

from __future__ import annotations

from dataclasses import dataclass

from ingestion.errors import ServiceError
from ingestion.services import credentials, mongo, postgres
from ingestion.services.credentials import RoleSettings
from ingestion.settings import ReaderSettings, Settings

__all__ = [
    "Endpoints",
    "ServiceError",
    "Services",
    "dbt_env",
    "lake_reader_uri",
    "lake_uri",
]


@dataclass(frozen=True)
class Endpoints:
    """Where the services are, once they run (for bootstrap and tests: it holds the admin DSN)."""

    postgres_admin_dsn: str
    mongo_uri: str
    database: str

    def role_dsn(self, role: str, settings: Settings) -> str:
        """A keyword DSN for ``role`` on this database, with the role's password."""
        return credentials.role_dsn(settings, role, self.database)

    def dbt_env(self, settings: Settings) -> dict[str, str]:
        """The environment dbt's profile reads (the ``transformer`` role) for this database."""
        return dbt_env(settings, self.database)


def dbt_env(settings: RoleSettings, database: str | None = None) -> dict[str, str]:
    """Environment variables that ``dbt_project/profiles.yml`` reads: the ``transformer`` role only.

    No admin DSN is read to build them; ``database`` defaults to the warehouse's.
    """
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(credentials.server_conninfo(settings))
    return {
        "CRIPTOPIPE_DBT_HOST": str(params.get("host") or credentials.LOCAL_HOST),
        "CRIPTOPIPE_DBT_PORT": str(params.get("port") or 5432),
        "CRIPTOPIPE_DBT_USER": "transformer",
        "CRIPTOPIPE_DBT_PASSWORD": credentials.role_password(settings, "transformer"),
        "CRIPTOPIPE_DBT_DBNAME": database or settings.postgres_db,
    }


def lake_uri(settings: Settings) -> str:
    """The lake writer's URI (``CRIPTOPIPE_MONGO_URI``), else the local server's."""
    uri = settings.mongo_uri
    return uri.get_secret_value() if uri else mongo.local_uri(settings.mongo_port)


def lake_reader_uri(settings: ReaderSettings) -> str:
    """The URI for what only reads the lake.

    That is ``CRIPTOPIPE_MONGO_READER_URI`` (a read-only user), else the writer's URI when this
    process has it, else the local server's.
    """
    if settings.mongo_reader_uri is not None:
        return settings.mongo_reader_uri.get_secret_value()
    if isinstance(settings, Settings) and settings.mongo_uri is not None:
        return settings.mongo_uri.get_secret_value()
    return mongo.local_uri(settings.mongo_port)


class Services:
    """Bring up, stop and describe the two servers for one ``Settings``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pg = postgres.EmbeddedPostgres(settings.home, settings.postgres_port)
        self.mongo = mongo.LocalMongo(
            settings.home, settings.mongo_port, settings.ferretdb_cache_dir
        )

    # -- PostgreSQL ---------------------------------------------------------------
    @property
    def external_postgres(self) -> str | None:
        """The configured ``CRIPTOPIPE_POSTGRES_DSN``, or None when the embedded server is used."""
        dsn = self.settings.postgres_dsn
        return dsn.get_secret_value() if dsn else None

    @property
    def external_mongo(self) -> str | None:
        """The configured ``CRIPTOPIPE_MONGO_URI``, or None when the local server is used."""
        uri = self.settings.mongo_uri
        return uri.get_secret_value() if uri else None

    def postgres_admin_dsn(self) -> str:
        """The admin DSN: the external one, else the embedded server's superuser."""
        return self.external_postgres or self.pg.admin_dsn()

    def mongo_uri(self) -> str:
        """The lake's URI: the external one, else the local server's."""
        return self.external_mongo or self.mongo.uri

    def up(self, database: str | None = None) -> dict[str, str]:
        """Start what is not running, create the database and roles. Idempotent.

        Returns a short word per service: started, running, or external.
        """
        self.settings.home.mkdir(parents=True, exist_ok=True)
        result: dict[str, str] = {}
        if self.external_postgres:
            postgres.check_connection(self.external_postgres)
            result["postgres"] = "external"
        else:
            result["postgres"] = "started" if self.pg.start() else "running"
        # processes without the admin DSN (the dashboard) find the server from this record
        credentials.record_address(self.settings.home, self.external_postgres)
        postgres.bootstrap(
            self.postgres_admin_dsn(), database or self.settings.postgres_db, self.settings
        )
        if self.settings.dagster_storage == "postgres":
            from ingestion.services.dagster_storage import bootstrap_dagster_storage

            bootstrap_dagster_storage(self.postgres_admin_dsn(), self.settings)
        if self.external_mongo:
            mongo.check_connection(self.external_mongo)
            result["mongo"] = "external"
        else:
            result["mongo"] = "started" if self.mongo.start() else "running"
        return result

    def start_local(self) -> None:
        """Start the local servers that stopped (after a reboot, say), with no bootstrap.

        It makes no admin connection.

        Raises:
            ServiceError: the embedded PostgreSQL was never set up (that is ``services up``'s job).
        """
        home = self.settings.home
        remote = self.settings.postgres_host or credentials.address_file(home).exists()
        if not self.external_postgres and not remote:
            if not self.pg.is_initialised():
                raise ServiceError(
                    f"no PostgreSQL in {self.pg.data_dir} yet: run `criptopipe services up`."
                )
            self.pg.start()
        if not self.external_mongo:
            self.mongo.start()

    def down(self) -> dict[str, str]:
        """Stop only what the project started; data stays."""
        result: dict[str, str] = {}
        if self.external_postgres:
            result["postgres"] = "external (left running)"
        else:
            result["postgres"] = "stopped" if self.pg.stop() else "not running"
        if self.external_mongo:
            result["mongo"] = "external (left running)"
        else:
            result["mongo"] = "stopped" if self.mongo.stop() else "not running"
        return result

    def endpoints(self, database: str | None = None) -> Endpoints:
        """Where the servers are, for ``database`` (default: the warehouse's); it starts nothing."""
        return Endpoints(
            postgres_admin_dsn=self.postgres_admin_dsn(),
            mongo_uri=self.mongo_uri(),
            database=database or self.settings.postgres_db,
        )

    def status(self) -> tuple[postgres.PostgresStatus, mongo.MongoStatus]:
        """Describe both servers: mode, running or not, masked URL, version, data dir and pid.

        An external server is probed by connecting; a failure is reported in its status, never
        raised.
        """
        if self.external_postgres:
            dsn = self.external_postgres
            try:
                version: str | None = postgres.server_version(dsn)
                running, detail = True, ""
            except Exception as err:
                version, running, detail = None, False, str(err).strip()
            pg_status = postgres.PostgresStatus(
                "external", running, postgres.mask_dsn(dsn), version, None, None, detail
            )
        else:
            pid = self.pg.pid()
            version = None
            if pid is not None:
                try:
                    version = postgres.server_version(self.pg.admin_dsn())
                except Exception as err:  # running but unreachable: say so
                    version = f"unreachable: {err}"
            pg_status = postgres.PostgresStatus(
                "embedded",
                pid is not None,
                f"postgresql://{postgres.HOST}:{self.settings.postgres_port}/"
                f"{self.settings.postgres_db}",
                version,
                self.pg.data_dir,
                pid,
                "" if self.pg.is_initialised() else "not initialised yet",
            )
        if self.external_mongo:
            uri = self.external_mongo
            try:
                mversion: str | None = mongo.server_version(uri)
                running, detail = True, ""
            except Exception as err:
                mversion, running, detail = None, False, str(err)
            mongo_status = mongo.MongoStatus(
                "external", running, mongo.mask_uri(uri), mversion, None, None, detail
            )
        else:
            mpid = self.mongo.pid()
            mversion = None
            if mpid is not None:
                try:
                    mversion = mongo.server_version(self.mongo.uri)
                except Exception as err:
                    mversion = f"unreachable: {err}"
            stale = self.mongo.stale_pid()
            mongo_status = mongo.MongoStatus(
                self.mongo.kind(),
                mpid is not None,
                self.mongo.uri,
                mversion,
                self.mongo.data_dir,
                mpid,
                f"stale pid file (pid {stale} is not running)" if stale else "",
            )
        return pg_status, mongo_status
