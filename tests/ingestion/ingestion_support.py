"""Helpers shared by the ingestion tests (importable, unlike conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ingestion.settings import SOURCES, Settings

# The simulated clock: mid-hour, so every 1h series ends with an open candle.
SIM_NOW = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


def settings_for(base: Settings, base_urls: dict[str, str], **overrides: Any) -> Settings:
    """Settings for a run against ``base_urls``: no rate limits, quick retries, small scope."""
    update: dict[str, Any] = {f"{s}_base_url": base_urls[s] for s in SOURCES}
    update.update(
        http_rate_limits={s: 0 for s in SOURCES},
        http_timeout_seconds=1.0,
        http_max_retries=3,
        http_backoff_base_seconds=0.01,
        http_backoff_max_seconds=0.05,
        assets=("BTC", "ETH", "BNB"),
        start_date=(SIM_NOW - timedelta(days=3)).date(),
        markets_top_n=5,
    )
    update.update(overrides)
    return base.model_copy(update=update)
