"""Raw data the real way: the simulator serves every API, ``run_ingestion`` loads it.

Used by the end-to-end dbt test and by ``benchmarks/bench_dbt.py``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from dbt_helpers import DbtDatabase
from pymongo import MongoClient

from ingestion.settings import SOURCES


async def _ingest(
    db: DbtDatabase,
    days: int,
    assets: tuple[str, ...],
    now: datetime,
    start: datetime | None,
    divergences: tuple[Any, ...],
) -> Any:
    from ingestion.run.ingest import run_ingestion
    from ingestion.simulator import SimulatorConfig, run_simulator

    first = start or now - timedelta(days=days)
    config = SimulatorConfig(seed=42, now=now, divergences=divergences)
    async with run_simulator(config) as sim:
        update: dict[str, Any] = {f"{s}_base_url": sim.base_urls[s] for s in SOURCES}
        update.update(
            http_rate_limits={s: 0 for s in SOURCES},
            http_backoff_base_seconds=0.01,
            http_backoff_max_seconds=0.05,
            assets=assets,
            start_date=first.date(),
            markets_top_n=max(10, len(assets)),
        )
        settings = db.settings.model_copy(update=update)
        return await run_ingestion(settings, start=first.date(), end=now, now=now)


def ingest(
    db: DbtDatabase,
    *,
    days: int,
    assets: tuple[str, ...],
    now: datetime,
    start: datetime | None = None,
    divergences: tuple[Any, ...] = (),
) -> Any:
    """Run the simulator and one ingestion run of every endpoint into ``db``;
    ``divergences`` (simulator ``PriceDivergence``s) push sources' prices off the market."""
    return asyncio.run(_ingest(db, days, assets, now, start, divergences))


def drop_lake(db: DbtDatabase) -> None:
    client: MongoClient[dict[str, Any]]
    with MongoClient(db.endpoints.mongo_uri) as client:
        client.drop_database(db.settings.mongo_db)
