"""How to start the dashboard: ``criptopipe dashboard`` runs :func:`command`."""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "streamlit_app.py"


def command(port: int = 8501, *, headless: bool = True) -> list[str]:
    """The command line that serves the dashboard on ``port`` (pass it to ``subprocess``).

    The app reads its database settings from the environment and ``.env`` like the rest of
    criptopipe (``CRIPTOPIPE_POSTGRES_DB`` …) and connects as the read-only ``reader`` role.
    """
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.port",
        str(port),
        "--server.headless",
        "true" if headless else "false",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]
