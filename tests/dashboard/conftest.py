"""Fixtures of the dashboard tests: which warehouse the app reads, and AppTest drivers.

The app finds its database through the settings, like the rest of criptopipe, so a test
points it somewhere by setting ``CRIPTOPIPE_POSTGRES_DB`` (or ``_HOST`` and ``_PORT``)
for the duration of the test and clearing the query cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pipeline import Warehouse, build_warehouse, drop_warehouse
from streamlit.testing.v1 import AppTest

from dashboard import data, lake_data
from ingestion.services import Endpoints, postgres
from ingestion.settings import Settings

APP = Path(__file__).resolve().parents[2] / "dashboard" / "streamlit_app.py"

PAGES = {
    "market_overview": "app_pages/market_overview.py",
    "asset": "app_pages/asset.py",
    "cross_exchange": "app_pages/cross_exchange.py",
    "risk": "app_pages/risk.py",
    "data_health": "app_pages/data_health.py",
    "lake": "app_pages/lake.py",
}


@pytest.fixture(scope="session")
def empty_database(endpoints: Endpoints, settings: Settings) -> Iterator[str]:
    """A bootstrapped warehouse database (roles, schemas) in which no mart was ever built."""
    name = f"criptopipe_dash_empty_{os.getpid()}"
    postgres.drop_database(endpoints.postgres_admin_dsn, name)
    postgres.bootstrap(endpoints.postgres_admin_dsn, name, settings)
    yield name
    postgres.drop_database(endpoints.postgres_admin_dsn, name)


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Point the dashboard at a database of the test server."""

    def use(name: str) -> None:
        monkeypatch.setenv("CRIPTOPIPE_POSTGRES_DB", name)
        data.clear_cache()

    yield use
    data.clear_cache()


@pytest.fixture
def use_lake(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Point the dashboard's Lake page at a lake database of the test server."""

    def use(name: str) -> None:
        monkeypatch.setenv("CRIPTOPIPE_MONGO_DB", name)
        lake_data.clear_cache()

    yield use
    lake_data.clear_cache()


def run_page(page: str, timeout: float = 60) -> AppTest:
    """Run the router, then switch to ``page`` (a key of PAGES) and run it."""
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.run()
    if page != "market_overview":
        at.switch_page(PAGES[page]).run()
    return at


@pytest.fixture
def open_page() -> Callable[..., AppTest]:
    return run_page


@pytest.fixture
def page_text() -> Callable[[AppTest], str]:
    return visible_text


def visible_text(at: AppTest) -> str:
    """Everything a user reads on the page: markdown, captions, alerts, titles, metrics."""
    parts: list[str] = []
    for kind in (
        "title",
        "subheader",
        "header",
        "markdown",
        "caption",
        "info",
        "warning",
        "success",
        "error",
    ):
        parts.extend(str(element.value) for element in getattr(at, kind))
    parts.extend(f"{m.label}: {m.value}" for m in at.metric)
    return "\n".join(parts)


@pytest.fixture(scope="session")
def demo_warehouse(
    endpoints: Endpoints, base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    """The demo pipeline run once for the session: simulator → ingestion → dbt build.

    Its own PostgreSQL database and lake, so no other test can truncate it.
    """
    warehouse = build_warehouse(
        base_settings,
        endpoints,
        f"criptopipe_dash_demo_{os.getpid()}",
        tmp_path_factory.mktemp("dashboard_demo"),
    )
    yield warehouse
    drop_warehouse(endpoints, warehouse)


@pytest.fixture
def on_demo_warehouse(
    demo_warehouse: Warehouse,
    use_database: Callable[[str], None],
) -> Warehouse:
    """The dashboard reads the demo warehouse (marts, and the dbt results of its build that
    dbt's on-run-end hook recorded there)."""
    use_database(demo_warehouse.database)
    return demo_warehouse
