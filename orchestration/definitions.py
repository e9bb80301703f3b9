"""criptopipe's one ``Definitions``: API endpoint → raw → dbt staging → marts → dashboard page.

Load it with ``dg dev -m orchestration.definitions`` (``criptopipe ui`` does so with
``DAGSTER_HOME`` set) or run everything once with ``criptopipe run``.
"""

from __future__ import annotations

import warnings

from dagster import AssetKey, AssetSpec, BetaWarning, Definitions, EnvVar, PreviewWarning

# Single-run backfill policies and source-free selections are "beta" in Dagster 1.13; we
# rely on them on purpose, so their warnings are noise in every run's output.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)


from orchestration.automation import build_automation  # noqa: E402
from orchestration.dbt_assets import dbt_resource, load_dbt_definitions  # noqa: E402
from orchestration.indicator_assets import INDICATOR_ASSETS  # noqa: E402
from orchestration.ingestion_assets import INGESTION_ASSETS  # noqa: E402
from orchestration.resources import (  # noqa: E402
    CriptopipeSettings,
    IngestionResource,
    MongoResource,
    PostgresResource,
)

_dbt_assets, dashboard_pages = load_dbt_definitions()
# The Lake page reads MongoDB, which every ingestion asset writes: no dbt exposure names it.
lake_page = AssetSpec(
    key=AssetKey(["dashboard", "lake"]),
    deps=[key for asset in INGESTION_ASSETS for key in asset.keys],
    description="Dashboard page Lake: responses and bytes per source, endpoint and day, error "
    "responses, quarantined bodies, the newest responses and a stored-body viewer (MongoDB).",
    group_name="dashboard",
    kinds={"streamlit", "mongodb"},
    tags={"criptopipe/layer": "dashboard"},
)
dbt_models = [a for a in _dbt_assets if not a.partitions_def]
dbt_incremental = [a for a in _dbt_assets if a.partitions_def]
automation = build_automation(dbt_models, dbt_incremental, transforms=INDICATOR_ASSETS)

# Databases come from CRIPTOPIPE_POSTGRES_DB / CRIPTOPIPE_MONGO_DB, read through Settings
# (which also reads .env); the optional CRIPTOPIPE_DAGSTER_* variables override them for
# the Dagster process alone.
_config = CriptopipeSettings(
    postgres_db=EnvVar("CRIPTOPIPE_DAGSTER_POSTGRES_DB").get_value(),
    mongo_db=EnvVar("CRIPTOPIPE_DAGSTER_MONGO_DB").get_value(),
)

defs = Definitions(
    assets=[*INGESTION_ASSETS, *_dbt_assets, *INDICATOR_ASSETS, *dashboard_pages, lake_page],
    jobs=automation.jobs,
    schedules=automation.schedules,
    sensors=automation.sensors,
    resources={
        "config": _config,
        "postgres": PostgresResource(config=_config),
        "mongo": MongoResource(config=_config),
        "ingestion": IngestionResource(config=_config),
        "dbt": dbt_resource(),
    },
)
