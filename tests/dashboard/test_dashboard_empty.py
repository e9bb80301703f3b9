"""The dashboard with no data: every page says what to run, and none crashes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from netutil import free_port
from streamlit.testing.v1 import AppTest

PAGES = ["market_overview", "asset", "cross_exchange", "risk", "data_health"]


@pytest.mark.parametrize("page", PAGES)
def test_page_without_marts_shows_what_to_run(
    page: str,
    empty_database: str,
    use_database: Callable[[str], None],
    open_page: Callable[..., AppTest],
    page_text: Callable[[AppTest], str],
) -> None:
    use_database(empty_database)
    at = open_page(page)
    assert not at.exception, at.exception
    assert "No data yet — run `make demo`" in page_text(at)
    assert "no mart has been built yet" in page_text(at)
    assert not at.get("plotly_chart")


def test_unreachable_warehouse_shows_what_to_run(
    monkeypatch: pytest.MonkeyPatch,
    open_page: Callable[..., AppTest],
    page_text: Callable[[AppTest], str],
) -> None:
    """A fresh machine: nothing listens where the warehouse should be."""
    monkeypatch.setenv("CRIPTOPIPE_POSTGRES_HOST", "127.0.0.1")
    monkeypatch.setenv("CRIPTOPIPE_POSTGRES_PORT", str(free_port()))
    monkeypatch.setenv("CRIPTOPIPE_READER_PASSWORD", "x")
    from dashboard import data

    data.clear_cache()
    at = open_page("market_overview")
    assert not at.exception, at.exception
    assert "No data yet — run `make demo`" in page_text(at)
    assert "not reachable" in page_text(at)


def test_a_warehouse_never_set_up_says_what_to_run(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    open_page: Callable[..., AppTest],
    page_text: Callable[[AppTest], str],
) -> None:
    """No reader password yet (no `services up` ran): the page says so, and crashes not."""
    monkeypatch.setenv("CRIPTOPIPE_HOME", str(tmp_path))
    monkeypatch.delenv("CRIPTOPIPE_READER_PASSWORD", raising=False)
    from dashboard import data

    data.clear_cache()
    at = open_page("market_overview")
    assert not at.exception, at.exception
    assert "No data yet — run `make demo`" in page_text(at)
    assert "services up" in page_text(at)
