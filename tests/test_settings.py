"""Configuration: one Settings, CRIPTOPIPE_ prefix, .env supported, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ingestion.settings import PROJECT_ROOT, SOURCES, Settings


def test_env_example_lists_every_setting() -> None:
    text = (PROJECT_ROOT / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"CRIPTOPIPE_{name.upper()}=" in text, name


def test_every_source_has_a_configurable_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for source in SOURCES:
        monkeypatch.setenv(f"CRIPTOPIPE_{source.upper()}_BASE_URL", f"http://sim:1/{source}/")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.base_urls() == {s: f"http://sim:1/{s}" for s in SOURCES}


def test_lists_come_from_comma_separated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIPTOPIPE_ASSETS", "btc, eth,SOL")
    monkeypatch.setenv("CRIPTOPIPE_CANDLE_INTERVALS", "1h")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.assets == ("BTC", "ETH", "SOL")
    assert settings.candle_intervals == ("1h",)


def test_every_candle_interval_from_1m_to_1d_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIPTOPIPE_CANDLE_INTERVALS", "1d, 4h,1h,15m,5m,1m,1h")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.candle_intervals == ("1d", "4h", "1h", "15m", "5m", "1m")  # one each


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("CRIPTOPIPE_MARKETS_TOP_N=7\nCRIPTOPIPE_START_DATE=2023-03-01\n")
    monkeypatch.delenv("CRIPTOPIPE_MARKETS_TOP_N", raising=False)
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert settings.markets_top_n == 7
    assert str(settings.start_date) == "2023-03-01"


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("CRIPTOPIPE_ASSETS", "BTC,NOT A COIN", "is not a ticker"),
        ("CRIPTOPIPE_ASSETS", "ETH=ethereum,ETH=ethereum-wormhole", "configured twice"),
        ("CRIPTOPIPE_CANDLE_INTERVALS", "1h,2h", r"unsupported candle interval\(s\) \['2h'\]"),
        ("CRIPTOPIPE_CANDLE_INTERVALS", "1M", "use any of 1m, 5m, 15m, 1h, 4h, 1d"),
        ("CRIPTOPIPE_CANDLE_INTERVALS", " , ", "no candle interval given"),
        ("CRIPTOPIPE_BINANCE_BASE_URL", "api.binance.com", "must start with http"),
        ("CRIPTOPIPE_START_DATE", "yesterday", "start_date"),
    ],
)
def test_bad_config_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, message: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_secrets_do_not_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIPTOPIPE_COINGECKO_API_KEY", "CG-supersecret")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert "supersecret" not in repr(settings)
    assert settings.api_key("coingecko") is not None


def test_env_example_sources_block_is_generated_from_the_connectors() -> None:
    """The per-source settings in .env.example are what the connector descriptions say:
    rerun ``python -m ingestion.generate`` after adding or changing a source."""
    from ingestion.generate import render, sources_block

    text = (PROJECT_ROOT / ".env.example").read_text()
    assert render(text) == text
    for source in SOURCES:
        assert f"# CRIPTOPIPE_{source.upper()}_BASE_URL=" in sources_block()
