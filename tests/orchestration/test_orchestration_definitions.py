"""The whole ``Definitions`` loads, and its asset graph runs from every API endpoint to a
dashboard page through staging and marts."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance, DailyPartitionsDefinition, build_schedule_context
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.definitions.backfill_policy import BackfillPolicyType

from ingestion.connectors.registry import REGISTRY, sources
from ingestion.run.results import EndpointStats
from orchestration.automation import describe_cron
from orchestration.ingestion_assets import cadence_period, endpoint_metadata


@pytest.fixture(scope="module")
def defs() -> Any:  # Definitions, read as loaded: its attributes are typed optional
    from orchestration.definitions import load_definitions

    return load_definitions()


@pytest.fixture(scope="module")
def graph(defs: Any) -> AssetGraph:
    return defs.resolve_asset_graph()


def _downstream(graph: AssetGraph, key: AssetKey) -> set[AssetKey]:
    seen: set[AssetKey] = set()
    todo = [key]
    while todo:
        for child in graph.get(todo.pop()).child_keys:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def test_every_registry_endpoint_is_an_asset_in_its_source_group(graph: AssetGraph) -> None:
    for spec in REGISTRY:
        node = graph.get(AssetKey(["raw", spec.source, spec.endpoint]))
        assert node.group_name == spec.source
        assert node.is_materializable
        if spec.is_time_windowed:
            assert isinstance(node.partitions_def, DailyPartitionsDefinition)
            policy = node.backfill_policy
            assert policy is not None and policy.policy_type == BackfillPolicyType.SINGLE_RUN
        else:
            assert node.partitions_def is None
        assert node.pools == {spec.source}
        assert node.freshness_policy is not None


def test_every_source_reaches_a_mart_and_a_dashboard_page(graph: AssetGraph) -> None:
    pages = {k for k in graph.get_all_asset_keys() if k.path[0] == "dashboard"}
    assert {p.path[1] for p in pages} >= {
        "market_overview",
        "asset",
        "cross_exchange",
        "risk",
        "data_health",
    }
    for source in sources():
        raw_keys = [AssetKey(["raw", s.source, s.endpoint]) for s in REGISTRY if s.source == source]
        reached = set().union(*(_downstream(graph, k) for k in raw_keys))
        layers = {graph.get(k).group_name for k in reached}
        assert {"staging", "marts", "dashboard"} <= layers, (source, layers)
        # and there is a path that goes through them in order: raw → staging → mart → page
        staging = [k for k in reached if graph.get(k).group_name == "staging"]
        assert any(
            any(
                graph.get(m).group_name == "marts" and (_downstream(graph, m) & pages)
                for m in _downstream(graph, s)
            )
            for s in staging
        ), f"no raw → staging → mart → page path for {source}"


def test_dbt_sources_map_to_ingestion_assets_not_stubs(graph: AssetGraph) -> None:
    raw_keys = {k for k in graph.get_all_asset_keys() if k.path[0] == "raw"}
    registry_keys = {AssetKey(list(s.asset_key)) for s in REGISTRY}
    bookkeeping = {
        AssetKey(["raw", "ingestion_runs"]),
        AssetKey(["raw", "quarantine"]),
        AssetKey(["raw", "asset_symbols"]),
        AssetKey(["raw", "known_empty"]),
    }
    assert raw_keys - registry_keys <= bookkeeping
    for key in registry_keys:
        children = graph.get(key).child_keys
        assert any(graph.get(c).group_name == "staging" for c in children), key


def test_dbt_layers_tests_and_partitions(defs: Any, graph: AssetGraph) -> None:
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {"staging", "intermediate", "marts", "snapshots", "dashboard"} <= groups
    # dbt tests are asset checks; error-severity ones block what is downstream
    checks = [graph.get_check_spec(k) for k in graph.asset_check_keys]
    dbt_checks = [c for c in checks if c.asset_key.path[0] in ("staging", "intermediate", "marts")]
    assert len(dbt_checks) > 50
    assert any(c.blocking for c in dbt_checks)
    # incremental marts share the ingestion partitions and backfill in one run
    incremental = [
        graph.get(k)
        for k in graph.get_all_asset_keys()
        if graph.get(k).is_materializable
        and graph.get(k).group_name == "marts"
        and graph.get(k).partitions_def is not None
    ]
    assert incremental, "no partitioned (incremental) mart"
    for node in incremental:
        assert (
            node.partitions_def == graph.get(AssetKey(["raw", "binance", "klines"])).partitions_def
        )
        policy = node.backfill_policy
        assert policy is not None and policy.policy_type == BackfillPolicyType.SINGLE_RUN


def test_automation(defs: Any) -> None:
    schedules = {s.name: s for s in defs.schedules}
    crons = {s.cron_schedule for s in schedules.values()}
    assert "*/15 * * * *" in crons  # market snapshots
    assert any(c.split()[1] == "*" and not c.startswith("*/") for c in crons)  # hourly candles
    assert "dbt_daily_build_schedule" in schedules
    assert {s.name for s in defs.sensors} == {
        "candle_gap_sensor",
        "run_failure_alert",
        "blocking_check_alert",
        "freshness_alert",
    }
    assert describe_cron("*/15 * * * *") == "every_15_minutes"
    assert cadence_period("0 17 * * 1-5") == timedelta(days=3)


def test_resources_are_configurable(defs: Any) -> None:
    resources = defs.resources
    assert {"postgres", "mongo", "ingestion", "dbt"} <= set(resources)


def test_a_candle_jobs_dbt_step_runs_after_its_ingestion_steps(defs: Any) -> None:
    """The incremental marts read raw through views no partitioned job includes; their deps
    on the raw assets order the steps (before, dbt could run first: the marts lagged a run
    behind, and a warehouse's first run built empty marts)."""
    candle_jobs = [j for j in defs.jobs if "candles" in j.name and "hourly" in j.name]
    assert candle_jobs
    for unresolved in candle_jobs:
        job = defs.resolve_job_def(unresolved.name)
        deps = {node.name: d for node, d in job.graph.dependencies.items()}
        ingestion = {name for name in deps if name.startswith("raw__")}
        assert ingestion, job.name
        direct = [
            getattr(d, "other_dependency", None) or d  # a dep behind blocking checks
            for d in deps["dbt_incremental_models"].values()
        ]
        upstream = {getattr(d, "node", None) for d in direct}
        assert ingestion <= upstream, (job.name, upstream)


def test_the_daily_builds_first_tick_on_the_start_date_builds_that_day(defs: Any) -> None:
    """At 01:00 the daily build finishes yesterday, but never a day before the partitions."""
    schedule = defs.get_schedule_def("dbt_daily_build_schedule")
    partitions = defs.resolve_job_def("dbt_daily_build").partitions_def
    start = partitions.start.astimezone(UTC)
    repository = defs.get_repository_def()
    with DagsterInstance.ephemeral() as instance:
        for tick, day in ((start, start), (start + timedelta(days=1), start)):
            context = build_schedule_context(
                instance=instance,
                scheduled_execution_time=tick + timedelta(hours=1),
                repository_def=repository,
            )
            requests = schedule.evaluate_tick(context).run_requests or []
            assert [r.partition_key for r in requests] == [f"{day:%Y-%m-%d}"]


def test_a_materialization_names_the_pairs_its_run_requested() -> None:
    # the resolved mapping as the run used it (from the listings), in the asset's metadata
    stats = EndpointStats("kraken", "ohlc", symbols={"BTC": "XBTUSD", "AVAX": "AVAXUSD"})
    table = str(endpoint_metadata(stats)["symbols"].value)
    assert table.index("| AVAX | `AVAXUSD` |") < table.index("| BTC | `XBTUSD` |")
    assert "symbols" not in endpoint_metadata(EndpointStats("fx", "rates"))


def test_the_partitioned_dbt_asset_is_the_models_tagged_partitioned(
    defs: Any, graph: AssetGraph
) -> None:
    """The partitioned dbt asset holds the models that rebuild a partition's window (tagged
    ``partitioned``); an incremental model that finds its changes itself is unpartitioned
    (fct_cross_exchange_spreads_daily reads tables of the unpartitioned asset: partitioned,
    it closed a cycle and dbt_daily_build did not resolve), and every job resolves."""
    from orchestration.dbt_assets import DBT_PROJECT, PARTITIONED_TAG

    manifest = json.loads(DBT_PROJECT.manifest_path.read_text())
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    window_macros = {
        "macro.criptopipe.incremental_candles_condition",
        "macro.criptopipe.partition_window",
    }

    def macros_called(uids: list[str]) -> set[str]:  # directly or through other macros
        called, todo = set(), list(uids)
        while todo:
            uid = todo.pop()
            if uid not in called:
                called.add(uid)
                todo.extend(manifest["macros"].get(uid, {}).get("depends_on", {}).get("macros", []))
        return called

    for name, node in models.items():
        tagged = PARTITIONED_TAG in node["tags"]
        reads_the_window = bool(window_macros & macros_called(node["depends_on"]["macros"]))
        assert tagged == reads_the_window, name
        assert not tagged or node["config"]["materialized"] == "incremental", name
        asset = graph.get(AssetKey([node["config"]["schema"], name]))
        assert (asset.partitions_def is not None) == tagged, name

    spreads = models["fct_cross_exchange_spreads_daily"]
    assert spreads["config"]["materialized"] == "incremental"
    assert graph.get(AssetKey(["marts", "fct_cross_exchange_spreads_daily"])).partitions_def is None
    for job in defs.jobs:
        defs.resolve_job_def(job.name)
    build = defs.resolve_job_def("dbt_daily_build")
    assert (
        AssetKey(["marts", "fct_cross_exchange_spreads_daily"])
        in build.asset_layer.selected_asset_keys
    )
