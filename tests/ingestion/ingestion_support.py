"""Helpers shared by the ingestion tests (importable, unlike conftest)."""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from ingestion.settings import SOURCES, Settings
from ingestion.simulator import simulator_base_urls

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
        now=SIM_NOW,  # the run's clock is the simulator's
    )
    update.update(overrides)
    return base.model_copy(update=update)


def admin(root: str, path: str, payload: Any | None = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        root + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def simulator_env(settings: Settings, root: str, **extra: str) -> dict[str, str]:
    """Environment for a criptopipe process run against the simulator at ``root``."""
    env = dict(os.environ)
    for source, url in simulator_base_urls(root).items():
        env[f"CRIPTOPIPE_{source.upper()}_BASE_URL"] = url
    env.update(
        {
            "CRIPTOPIPE_POSTGRES_DB": settings.postgres_db,
            "CRIPTOPIPE_MONGO_DB": settings.mongo_db,
            "CRIPTOPIPE_HTTP_RATE_LIMITS": json.dumps({s: 0 for s in SOURCES}),
            "CRIPTOPIPE_ASSETS": "BTC,ETH",
            "CRIPTOPIPE_CANDLE_INTERVALS": "1h",
            "CRIPTOPIPE_START_DATE": (SIM_NOW - timedelta(days=3)).date().isoformat(),
            "CRIPTOPIPE_HTTP_BACKOFF_BASE_SECONDS": "0.01",
            "CRIPTOPIPE_HTTP_BACKOFF_MAX_SECONDS": "0.05",
            "CRIPTOPIPE_HTTP_MAX_RETRIES": "2",
            "CRIPTOPIPE_NOW": SIM_NOW.isoformat(),  # the run's clock is the simulator's
        }
    )
    env.pop("CRIPTOPIPE_COINGECKO_API_KEY", None)
    env.update(extra)
    return env


async def load_listings(settings: Settings, now: datetime = SIM_NOW) -> None:
    """Load what resolving the assets reads (the listings, the ranks), as a run would.

    A test of another endpoint's behaviour calls this first, so its run is not the one that
    bootstraps a fresh warehouse: its requests (and a fault plan's counts) are its own.
    """
    from ingestion.run.ingest import resolution_specs, run_ingestion

    summary = await run_ingestion(settings, endpoints=[s.name for s in resolution_specs()], now=now)
    assert summary.ok, [(e.name, e.error) for e in summary.failed]
