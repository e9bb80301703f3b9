"""How to start the dashboard: ``criptopipe dashboard`` (or ``python -m dashboard.server``).

The server process holds the ``reader`` role only: :func:`reader_environment` removes every
other credential from the environment it is started with, and the app itself loads only
:class:`~ingestion.settings.ReaderSettings` (so a ``.env`` holding the admin DSN or another
role's password is read past). It binds 127.0.0.1 unless told otherwise, and refuses any
other address without a password or Streamlit auth (:mod:`dashboard.access`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from ingestion.settings import ReaderSettings

APP = Path(__file__).resolve().parent / "streamlit_app.py"
PREFIX = "CRIPTOPIPE_"
# Outside the CRIPTOPIPE_ settings: variables that carry database credentials too.
FOREIGN_SECRETS = frozenset({"PGPASSWORD", "PGPASSFILE", "POSTGRES_PASSWORD", "DATABASE_URL"})


def command(port: int = 8501, *, headless: bool = True, address: str = "127.0.0.1") -> list[str]:
    """The command line that serves the dashboard on ``address:port``.

    Pass it to ``subprocess`` with :func:`reader_environment`.
    """
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--server.headless",
        "true" if headless else "false",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]


def reader_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) without any credential the reader has no use for.

    Only the ``CRIPTOPIPE_`` variables that :class:`ReaderSettings` knows are kept; dbt's and
    Dagster's credentials and foreign secrets are dropped.
    """
    allowed = {PREFIX + name.upper() for name in ReaderSettings.model_fields}
    source = os.environ if environ is None else environ
    return {
        name: value
        for name, value in source.items()
        if not (name.startswith(PREFIX) and name not in allowed)
        and not name.startswith(("CRIPTOPIPE_DBT_", "DAGSTER_PG_"))
        and name not in FOREIGN_SECRETS
    }


def main() -> None:
    """Serve the dashboard as configured (docker-compose runs this)."""
    from dashboard.access import UnguardedBindError, check_bind

    settings = ReaderSettings()
    try:
        check_bind(settings.dashboard_address, settings)
    except UnguardedBindError as err:
        sys.exit(f"error: {err}")
    args = command(settings.dashboard_port, address=settings.dashboard_address)
    os.execve(args[0], args, reader_environment())


if __name__ == "__main__":
    main()
