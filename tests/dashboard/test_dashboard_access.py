"""The dashboard holds the reader role only, binds loopback, and can sit behind a password."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr
from streamlit.testing.v1 import AppTest

from dashboard import access, data
from dashboard.server import reader_environment
from ingestion.services import credentials
from ingestion.settings import PROJECT_ROOT, ReaderSettings, Settings

APP = PROJECT_ROOT / "dashboard" / "streamlit_app.py"
PAGES = ("market_overview", "asset", "cross_exchange", "risk", "data_health")


@pytest.fixture
def run_every_page(open_page: Callable[[str], AppTest]) -> Callable[[], None]:
    def run() -> None:
        for page in PAGES:
            open_page(page)

    return run


def test_every_dashboard_connection_is_the_reader(
    empty_database: str,
    use_database: Callable[[str], None],
    admin_dsn: str,
    run_every_page: Callable[[], None],
) -> None:
    """While every page runs, watch pg_stat_activity: each backend on the dashboard's
    database is the reader's."""
    use_database(empty_database)
    seen: set[tuple[str | None, str | None]] = set()
    with psycopg.connect(admin_dsn, autocommit=True) as watcher:
        for _ in range(5):  # until the watcher has caught some of the short connections
            data.clear_cache()
            pages = threading.Thread(target=run_every_page)
            pages.start()
            while pages.is_alive():
                # client backends only (not autovacuum), once authenticated (a backend
                # still in authentication has no user yet)
                seen.update(
                    watcher.execute(
                        "select usename, application_name from pg_stat_activity "
                        "where datname = %s and pid <> pg_backend_pid() "
                        "and backend_type = 'client backend' and usename is not null",
                        [empty_database],
                    ).fetchall()
                )
            pages.join()
            if seen:
                break
    assert seen, "no dashboard connection was seen"
    assert {user for user, _ in seen} == {"reader"}, seen


def test_the_dashboard_reads_no_other_credential(
    empty_database: str,
    use_database: Callable[[str], None],
    settings: Settings,
    run_every_page: Callable[[], None],
) -> None:
    """Every page, run in this process, opens the reader's secret and no other: not the
    superuser's, not the loader's or the transformer's."""
    use_database(empty_database)
    opened: list[str] = []
    watching = threading.Event()

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event == "open" and watching.is_set() and isinstance(args[0], str | Path):
            opened.append(str(args[0]))

    sys.addaudithook(hook)  # cannot be removed: it records only while `watching` is set
    watching.set()
    try:
        data.clear_cache()
        run_every_page()
    finally:
        watching.clear()
    home = str(settings.home)
    secrets_read = {Path(p).name for p in opened if p.startswith(home)}
    if settings.reader_password is None:
        assert "reader.password" in secrets_read
    assert secrets_read <= {"reader.password", "warehouse.conninfo"}, secrets_read


def test_the_server_environment_keeps_only_the_readers_settings() -> None:
    environ = {
        "PATH": "/usr/bin",
        "CRIPTOPIPE_POSTGRES_DB": "criptopipe_demo",
        "CRIPTOPIPE_READER_PASSWORD": "r",
        "CRIPTOPIPE_POSTGRES_DSN": "postgresql://postgres:admin@db/postgres",
        "CRIPTOPIPE_LOADER_PASSWORD": "l",
        "CRIPTOPIPE_TRANSFORMER_PASSWORD": "t",
        "CRIPTOPIPE_DBT_PASSWORD": "t",
        "CRIPTOPIPE_MONGO_URI": "mongodb://lake_writer:w@mongo/",
        "CRIPTOPIPE_COINGECKO_API_KEY": "CG-key",
        "PGPASSWORD": "admin",
        "DAGSTER_PG_PASSWORD": "d",
        "CRIPTOPIPE_DAGSTER_PASSWORD": "d",
    }
    assert reader_environment(environ) == {
        "PATH": "/usr/bin",
        "CRIPTOPIPE_POSTGRES_DB": "criptopipe_demo",
        "CRIPTOPIPE_READER_PASSWORD": "r",
    }


def test_reader_settings_ignore_other_credentials_in_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "CRIPTOPIPE_POSTGRES_DSN=postgresql://postgres:admin@db/postgres\n"
        "CRIPTOPIPE_LOADER_PASSWORD=l\nCRIPTOPIPE_READER_PASSWORD=r\n"
    )
    settings = ReaderSettings(_env_file=env_file)  # type: ignore[call-arg]
    dump = repr(settings.model_dump()) + repr(vars(settings))
    assert "admin" not in dump and "'l'" not in dump
    assert settings.reader_password is not None
    assert settings.reader_password.get_secret_value() == "r"
    assert "admin" not in credentials.role_dsn(settings, "reader")


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.10", "dashboard.example.org"])
def test_an_open_address_needs_a_password(address: str, tmp_path: Path) -> None:
    bare = ReaderSettings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(access.UnguardedBindError, match="CRIPTOPIPE_DASHBOARD_PASSWORD"):
        access.check_bind(address, bare)
    guarded = ReaderSettings(_env_file=None, dashboard_password=SecretStr("pw"))  # type: ignore[call-arg]
    access.check_bind(address, guarded)
    for loopback in ("127.0.0.1", "::1", "localhost"):
        access.check_bind(loopback, bare)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\nredirect_uri = "http://x/oauth2callback"\n')
    assert access.streamlit_auth_configured((tmp_path / "absent.toml", secrets))
    secrets.write_text("[other]\nx = 1\n")
    assert not access.streamlit_auth_configured((secrets,))


def test_the_server_refuses_an_unguarded_address() -> None:
    env = {**reader_environment(), "CRIPTOPIPE_DASHBOARD_ADDRESS": "0.0.0.0"}
    env.pop("CRIPTOPIPE_DASHBOARD_PASSWORD", None)
    result = subprocess.run(
        [sys.executable, "-m", "dashboard.server"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "refusing to serve the dashboard on 0.0.0.0" in result.stderr


def test_a_password_guards_every_page(
    empty_database: str,
    use_database: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
    page_text: Callable[[AppTest], str],
) -> None:
    use_database(empty_database)
    monkeypatch.setenv("CRIPTOPIPE_DASHBOARD_PASSWORD", "open sesame")
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert len(at.text_input) == 1 and "Market overview" not in page_text(at)
    at.text_input[0].input("wrong").run()
    assert "Wrong password." in page_text(at)
    assert not at.metric  # nothing of the warehouse shows
    at.text_input[0].input("open sesame").run()
    assert not at.text_input or at.text_input[0].key != "dashboard_password"
    assert "Market overview" in page_text(at) or "No data yet" in page_text(at)
