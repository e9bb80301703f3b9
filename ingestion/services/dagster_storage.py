"""The PostgreSQL database that holds Dagster's instance storage (runs, events, schedules).

With ``CRIPTOPIPE_DAGSTER_STORAGE=postgres`` Dagster keeps its storage in a database of its
own (``CRIPTOPIPE_DAGSTER_DB``, default ``dagster``) on the warehouse's server, owned by a
``dagster`` role that has no rights on the warehouse. ``deploy/dagster.yaml`` reads where it
is from the ``DAGSTER_PG_*`` variables that :func:`dagster_pg_env` returns. Dagster creates
its tables itself on first use.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from ingestion.services import credentials, postgres
from ingestion.settings import Settings

ROLE = "dagster"


def bootstrap_dagster_storage(admin_dsn: str, settings: Settings) -> None:
    """Create the ``dagster`` role and its database if missing, and set the role's password.

    The password is its setting, else generated like the warehouse roles', and is sent as a
    SCRAM verifier. Idempotent.
    """
    password = credentials.ensure_role_password(settings, ROLE)
    database = settings.dagster_db
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as admin:
        admin.execute("select pg_advisory_lock(hashtext('criptopipe.bootstrap'))")
        try:
            exists = admin.execute("select 1 from pg_roles where rolname = %s", [ROLE]).fetchone()
            admin.execute(
                sql.SQL(
                    "{} role {} with login nosuperuser nocreaterole nocreatedb password {}"
                ).format(
                    sql.SQL("alter" if exists else "create"),
                    sql.Identifier(ROLE),
                    sql.Literal(postgres.scram_verifier(admin, ROLE, password)),
                )
            )
            if not admin.execute(
                "select 1 from pg_database where datname = %s", [database]
            ).fetchone():
                admin.execute(
                    sql.SQL("create database {} owner {}").format(
                        sql.Identifier(database), sql.Identifier(ROLE)
                    )
                )
            admin.execute(
                sql.SQL("revoke all on database {} from public").format(sql.Identifier(database))
            )
        finally:
            admin.execute("select pg_advisory_unlock(hashtext('criptopipe.bootstrap'))")


def dagster_pg_env(settings: Settings) -> dict[str, str]:
    """The ``DAGSTER_PG_*`` variables ``deploy/dagster.yaml`` reads: the ``dagster`` role.

    The server is found like the other roles find it (never from the admin DSN); the password is
    generated here if no ``services up`` made it yet.
    """
    params = conninfo_to_dict(credentials.server_conninfo(settings))
    return {
        "DAGSTER_PG_HOST": str(params.get("host") or credentials.LOCAL_HOST),
        "DAGSTER_PG_PORT": str(params.get("port") or 5432),
        "DAGSTER_PG_USERNAME": ROLE,
        "DAGSTER_PG_PASSWORD": credentials.ensure_role_password(settings, ROLE),
        "DAGSTER_PG_DB": settings.dagster_db,
    }
