"""criptopipe's one ``Definitions``: API endpoint → raw → dbt staging → marts → dashboard page.

Importing this module has no side effects: it reads no settings, starts no server, writes
no environment variable and runs no dbt. Dagster's loaders (``dg dev -m
orchestration.definitions``, ``dagster-webserver -m …``, ``criptopipe ui``) find
:func:`defs`, a ``@definitions`` function, and call it when they load the code location;
it builds everything from the dbt manifest prepared beforehand (see
``orchestration.dbt_assets.prepare_manifest``). Python callers (``criptopipe run``, the
tests) use :func:`load_definitions`, which prepares the manifest first.
"""

from __future__ import annotations

import functools
import warnings

from dagster import AssetKey, AssetSpec, BetaWarning, Definitions, PreviewWarning, definitions

from orchestration.automation import build_automation
from orchestration.dbt_assets import dbt_resource, load_dbt_definitions, prepare_manifest
from orchestration.indicator_assets import INDICATOR_ASSETS
from orchestration.ingestion_assets import build_ingestion_assets
from orchestration.partitions import daily_partitions
from orchestration.resources import (
    CriptopipeSettings,
    IngestionResource,
    MongoResource,
    PostgresResource,
)

# Single-run backfill policies and source-free selections are "beta" in Dagster 1.13; we
# rely on them on purpose, so their warnings are noise in every run's output.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)


def build_definitions() -> Definitions:
    """Every asset, job, schedule, sensor and resource, from the prepared dbt manifest.

    Reads the settings' start date (the day partitions begin there) and the manifest;
    starts nothing, writes nothing (under ``dagster dev`` the manifest is re-parsed first
    when the dbt project changed, as ``DbtProject.prepare_if_dev()`` does).

    Returns:
        The definitions.

    Raises:
        FileNotFoundError: When no dbt manifest was prepared (the message says how to).
    """
    from ingestion.settings import load_settings

    daily = daily_partitions(load_settings().start_date)
    ingestion_assets = build_ingestion_assets(daily=daily)
    dbt_assets, dashboard_pages = load_dbt_definitions(daily)
    # The Lake page reads MongoDB, which every ingestion asset writes: no dbt exposure
    # names it.
    lake_page = AssetSpec(
        key=AssetKey(["dashboard", "lake"]),
        deps=[key for asset in ingestion_assets for key in asset.keys],
        description="Dashboard page Lake: responses and bytes per source, endpoint and day, "
        "error responses, quarantined bodies, the newest responses and a stored-body viewer "
        "(MongoDB).",
        group_name="dashboard",
        kinds={"streamlit", "mongodb"},
        tags={"criptopipe/layer": "dashboard"},
    )
    dbt_models = [a for a in dbt_assets if not a.partitions_def]
    dbt_incremental = [a for a in dbt_assets if a.partitions_def]
    automation = build_automation(dbt_models, dbt_incremental, transforms=INDICATOR_ASSETS)
    # Databases come from CRIPTOPIPE_POSTGRES_DB / CRIPTOPIPE_MONGO_DB (or the optional
    # CRIPTOPIPE_DAGSTER_* overrides), read through Settings when a run uses a resource.
    config = CriptopipeSettings()
    return Definitions(
        assets=[*ingestion_assets, *dbt_assets, *INDICATOR_ASSETS, *dashboard_pages, lake_page],
        jobs=automation.jobs,
        schedules=automation.schedules,
        sensors=automation.sensors,
        resources={
            "config": config,
            "postgres": PostgresResource(config=config),
            "mongo": MongoResource(config=config),
            "ingestion": IngestionResource(config=config),
            "dbt": dbt_resource(),
        },
    )


@definitions
def defs() -> Definitions:
    """What Dagster loads: :func:`build_definitions` (the manifest must be prepared)."""
    return build_definitions()


@functools.cache
def load_definitions() -> Definitions:
    """The definitions for a Python caller, with the dbt manifest prepared first.

    ``dbt parse`` runs only when the project's files or the profile changed since the last
    parse. Built once per process, as Dagster's own loaders do.

    Returns:
        The definitions.
    """
    prepare_manifest()
    return build_definitions()
