"""dbt models, snapshots and seeds as Dagster assets; dbt exposures as dashboard pages.

* ``CriptopipeDbtTranslator`` maps every dbt source to its ingestion asset
  (``meta.dagster.asset_key``, else ``raw/<source>/<endpoint>`` from the table name
  ``raw.<source>__<endpoint>``), groups models by layer and turns dbt tests into asset
  checks (error severity = blocking, so a failed test stops what is downstream).
* The models tagged ``partitioned`` in dbt (the incremental candle marts and their
  coverage, which rebuild exactly a partition's window: macros/incremental_candles.sql)
  are a separate ``@dbt_assets`` on the same daily partitions as the candle ingestion,
  with a single-run backfill policy: the run's partition window goes to dbt as the
  environment variables ``CRIPTOPIPE_DBT_PARTITION_START`` / ``_END`` (ISO-8601 UTC,
  half-open; the macro also takes the vars ``partition_start`` / ``partition_end``).
  Not as ``--vars``: dbt re-parses the whole project whenever its vars change, which every
  partition run (and the next run without vars) would do. An incremental model without
  the tag is unpartitioned and finds what changed itself (fct_cross_exchange_spreads_daily,
  which reads tables of the unpartitioned asset: partitioned, it would close a cycle
  between the two assets, since the unpartitioned one reads the partitioned one).
* The manifest is prepared explicitly, never as a surprise of loading the definitions:
  ``orchestration.dbt_manifest.prepare_manifest`` runs ``dbt parse`` when the project's
  files (or the profile) changed since the last parse (their hash is kept next to the
  manifest). ``criptopipe
  dbt parse``, ``run``, ``ui``, ``demo`` and ``schedules`` call it; under ``dagster dev`` /
  ``dg dev`` loading calls it too, as ``DbtProject.prepare_if_dev()`` does. Otherwise a
  missing manifest is an error that says which command prepares it.
"""

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    DailyPartitionsDefinition,
    FreshnessPolicy,
    MetadataValue,
)
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from ingestion.settings import load_settings
from orchestration.dbt_invocations import (
    dbt_environment,
    parse_cache,
    partition_env,
    tidy_after,
)
from orchestration.dbt_manifest import (
    DBT_PROJECT,
    DBT_PROJECT_DIR,
    DBT_TARGET,
    dbt_executable,
    prepare_manifest,
)
from orchestration.dbt_runner import CriptopipeDbtCliResource
from orchestration.partitions import SINGLE_RUN, daily_partitions
from orchestration.resources import PostgresResource

logger = logging.getLogger(__name__)

PARTITIONED_TAG = "partitioned"
PARTITIONED = f"tag:{PARTITIONED_TAG}"  # the dbt selection of the partitioned asset
LAYERS = ("staging", "intermediate", "marts")
DBT_POOL = "dbt"
DBT_FRESHNESS = FreshnessPolicy.time_window(
    fail_window=timedelta(hours=26), warn_window=timedelta(hours=13)
)


# --------------------------------------------------------------------------- translator
def _meta(props: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = dict(props.get("config", {}).get("meta") or {})
    meta.update(props.get("meta") or {})
    return meta


class CriptopipeDbtTranslator(DagsterDbtTranslator):
    """Maps dbt's resources to criptopipe's asset keys, groups and tags."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        """A source's key from its ``meta.dagster.asset_key``, else ``raw/<source>/<endpoint>``.

        A model keeps dbt's default key, so each raw table is the ingestion asset that loads it.
        """
        if dbt_resource_props["resource_type"] == "source":
            configured = _meta(dbt_resource_props).get("dagster", {}).get("asset_key")
            if configured:
                return AssetKey(list(configured))
            identifier = dbt_resource_props.get("identifier") or dbt_resource_props["name"]
            if "__" in identifier:  # raw.<source>__<endpoint>
                source, endpoint = identifier.split("__", 1)
                return AssetKey(["raw", source, endpoint])
            return AssetKey(["raw", identifier])
        return super().get_asset_key(dbt_resource_props)

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetSpec:
        """dagster-dbt's spec; a partitioned model also depends on the sources it reads.

        A partitioned mart reads its raw tables through staging and intermediate views,
        which a partitioned job (the hourly candles) does not include: without these deps
        Dagster sees no edge from the ingestion steps to the dbt step and may run dbt first
        (the marts then lag a run behind, and a first run builds nothing).
        """
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if not is_partitioned(props):
            return spec
        sources = manifest.get("sources", {})
        reads = [self.get_asset_key(sources[uid]) for uid in sources_read(manifest, unique_id)]
        return spec.merge_attributes(deps=reads)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """The resource's layer from its folder (staging, marts ...), or snapshots or seeds."""
        resource_type = dbt_resource_props["resource_type"]
        if resource_type == "snapshot":
            return "snapshots"
        if resource_type == "seed":
            return "seeds"
        fqn = dbt_resource_props.get("fqn") or []
        for layer in LAYERS:
            if layer in fqn[1:-1]:
                return layer
        return "dbt"

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        """The tags dbt gives plus ``criptopipe/layer``, the resource's group."""
        tags = dict(super().get_tags(dbt_resource_props))
        group = self.get_group_name(dbt_resource_props)
        if group:
            tags["criptopipe/layer"] = group
        return tags


def is_partitioned(props: Mapping[str, Any]) -> bool:
    """Whether a dbt resource belongs to the partitioned asset: a model tagged ``partitioned``.

    Args:
        props: The resource's properties in the manifest.

    Returns:
        True for a partitioned model.
    """
    return props.get("resource_type") == "model" and PARTITIONED_TAG in (props.get("tags") or [])


def sources_read(manifest: Mapping[str, Any], unique_id: str) -> list[str]:
    """The sources a model reads at run time: directly or through views and ephemerals.

    Args:
        manifest: The parsed dbt manifest.
        unique_id: The model's unique id.

    Returns:
        The sources' unique ids, sorted.
    """
    nodes = manifest.get("nodes", {})
    sources = manifest.get("sources", {})
    found: set[str] = set()
    seen: set[str] = set()
    todo = list(nodes[unique_id].get("depends_on", {}).get("nodes", []))
    while todo:
        uid = todo.pop()
        if uid in seen:
            continue
        seen.add(uid)
        if uid in sources:
            found.add(uid)
        elif nodes.get(uid, {}).get("config", {}).get("materialized") in ("view", "ephemeral"):
            todo.extend(nodes[uid].get("depends_on", {}).get("nodes", []))
    return sorted(found)


TRANSLATOR = CriptopipeDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_code_references=True)
)


# --------------------------------------------------------------------------- assets
def build_dbt_assets(
    manifest: Path, daily: DailyPartitionsDefinition | None = None
) -> list[AssetsDefinition]:
    """The dbt assets of ``manifest``: one for the unpartitioned nodes, one partitioned.

    Args:
        manifest: A prepared dbt manifest.
        daily: The day partitions the partitioned marts share with candle ingestion
            (default: from the current settings' start date, read when called).

    Returns:
        The assets, each with a freshness policy.
    """
    if daily is None:
        daily = daily_partitions(load_settings().start_date)

    @dbt_assets(
        manifest=manifest,
        project=DBT_PROJECT,
        dagster_dbt_translator=TRANSLATOR,
        exclude=PARTITIONED,
        name="dbt_models",
        pool=DBT_POOL,
    )
    def dbt_models(
        context: AssetExecutionContext, dbt: DbtCliResource, postgres: PostgresResource
    ) -> Iterator[Any]:
        """Views, tables, unpartitioned incremental models, snapshots and seeds: ``dbt build``."""
        yield from dbt_build(context, dbt, postgres, manifest)

    assets: list[AssetsDefinition] = [dbt_models]

    manifest_json = json.loads(manifest.read_text())
    if any(is_partitioned(node) for node in manifest_json.get("nodes", {}).values()):

        @dbt_assets(
            manifest=manifest,
            project=DBT_PROJECT,
            dagster_dbt_translator=TRANSLATOR,
            select=PARTITIONED,
            name="dbt_incremental_models",
            partitions_def=daily,
            backfill_policy=SINGLE_RUN,
            pool=DBT_POOL,
        )
        def dbt_incremental_models(
            context: AssetExecutionContext, dbt: DbtCliResource, postgres: PostgresResource
        ) -> Iterator[Any]:
            """Incremental marts for the run's partition window (one dbt run per backfill)."""
            yield from dbt_build(context, dbt, postgres, manifest, partition_env(context))

        assets.append(dbt_incremental_models)
    return [a.map_asset_specs(_with_freshness) for a in assets]


@contextmanager
def warehouse_dbt_env(
    postgres: PostgresResource, extra_env: Mapping[str, str] | None = None
) -> Iterator[Path]:
    """Point dbt at ``postgres``'s warehouse and its profile's parse cache for the block.

    Args:
        postgres: The warehouse.
        extra_env: More variables for dbt (a partition window), removed afterwards.

    Yields:
        The profile's parse cache (``orchestration.dbt_invocations.parse_cache``).
    """
    postgres.export_dbt_env()
    root = DBT_PROJECT_DIR / DBT_TARGET
    cache = parse_cache(root, postgres.dbt_env())
    with dbt_environment(
        {"DBT_TARGET_PATH": str(cache), **(extra_env or {})},
        afterwards={"DBT_TARGET_PATH": str(root)},  # the folder prepare_manifest writes
    ):
        yield cache


def dbt_build(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    postgres: PostgresResource,
    manifest: Path,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Any]:
    """``dbt build`` of the step's selection on the run's warehouse.

    It starts from that warehouse profile's parse cache (``orchestration.dbt_invocations``),
    after the relations a fresh warehouse lacks.

    Args:
        context: The dbt step's execution context.
        dbt: The dbt resource.
        postgres: The warehouse the run writes to.
        manifest: The project's manifest.
        extra_env: More variables for dbt (a partition window).

    Yields:
        dagster-dbt's events of the build.
    """
    with warehouse_dbt_env(postgres, extra_env) as cache:
        ensure_relations(context, dbt, postgres, manifest, cache)
        # No manifest.json / run_results.json: the folder goes once Dagster read the events
        # (a failed run's keeps dbt.log); writing a 2 MB manifest cost every hourly run.
        invocation = dbt.cli(["build", "--no-write-json"], context=context)  # dbt starts here
        # dbt reads the window and the profile from the environment while it runs.
        yield from invocation.stream()
    tidy_after(invocation, cache)


# What a first build creates: every relation of the project, no tests (they run after).
BOOTSTRAP_BUILD = (
    "build",
    "--resource-type",
    "seed",
    "--resource-type",
    "model",
    "--resource-type",
    "snapshot",
)


def project_relations(manifest: Path) -> list[str]:
    """``schema.name`` of every seed, model and snapshot dbt materializes."""
    nodes = json.loads(manifest.read_text()).get("nodes", {})
    return sorted(
        f"{node['schema']}.{node.get('alias') or node['name']}"
        for node in nodes.values()
        if node.get("resource_type") in ("seed", "model", "snapshot")
        and node.get("config", {}).get("materialized") != "ephemeral"
        and node.get("config", {}).get("enabled", True)
    )


def missing_relations(postgres: PostgresResource, manifest: Path) -> list[str]:
    """The relations of :func:`project_relations` that do not exist in the warehouse yet."""
    with postgres.connect("transformer") as conn:
        rows = conn.execute(
            "select name from unnest(%s::text[]) as name where to_regclass(name) is null",
            [project_relations(manifest)],
        ).fetchall()
    return [row[0] for row in rows]


def ensure_relations(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    postgres: PostgresResource,
    manifest: Path,
    cache: Path | None = None,
) -> None:
    """On a fresh warehouse, create the raw tables and every dbt relation first.

    Seeds, models and snapshots are built, no tests, so any scheduled job succeeds on its very
    first tick, whichever comes first: a selection's models never read a relation nobody built.
    """
    missing = missing_relations(postgres, manifest)
    if not missing:
        return
    from ingestion.run.stores import ensure_raw_schema

    context.log.info(
        "fresh warehouse: %d dbt relations missing (e.g. %s); building the "
        "project's relations once first",
        len(missing),
        ", ".join(missing[:3]),
    )
    ensure_raw_schema(postgres.settings)
    invocation = dbt.cli(list(BOOTSTRAP_BUILD), manifest=manifest, raise_on_error=True).wait()
    if cache is not None:
        tidy_after(invocation, cache)


def _with_freshness(spec: AssetSpec) -> AssetSpec:
    if spec.freshness_policy is not None:
        return spec
    return spec.replace_attributes(freshness_policy=DBT_FRESHNESS)


def exposure_specs(
    manifest: Path, translator: DagsterDbtTranslator = TRANSLATOR
) -> list[AssetSpec]:
    """One asset per dbt exposure (a dashboard page), keyed ``dashboard/<exposure>``."""
    manifest_json = json.loads(manifest.read_text())
    nodes = {**manifest_json.get("nodes", {}), **manifest_json.get("sources", {})}
    specs = []
    for exposure in manifest_json.get("exposures", {}).values():
        deps = [
            translator.get_asset_key(nodes[uid])
            for uid in exposure.get("depends_on", {}).get("nodes", [])
            if uid in nodes
        ]
        metadata: dict[str, Any] = {"exposure_type": exposure.get("type", "")}
        if exposure.get("url"):
            metadata["url"] = MetadataValue.url(exposure["url"])
        if exposure.get("label"):
            metadata["label"] = exposure["label"]
        owner = exposure.get("owner") or {}
        specs.append(
            AssetSpec(
                key=AssetKey(["dashboard", exposure["name"]]),
                deps=deps,
                description=exposure.get("description") or f"Dashboard page {exposure['name']}",
                group_name="dashboard",
                kinds={"streamlit"},
                metadata=metadata,
                owners=[owner["email"]] if owner.get("email") else None,
                tags={"criptopipe/layer": "dashboard"},
            )
        )
    return specs


def load_dbt_definitions(
    daily: DailyPartitionsDefinition | None = None,
) -> tuple[list[AssetsDefinition], list[AssetSpec]]:
    """Dbt assets and dashboard specs from the prepared manifest; nothing is parsed here.

    Under ``dagster dev`` / ``dg dev`` the manifest is prepared first (as
    ``DbtProject.prepare_if_dev()`` does); otherwise it must have been prepared.

    Args:
        daily: The day partitions (default: from the current settings' start date).

    Returns:
        The dbt assets and one asset spec per dashboard page.

    Raises:
        FileNotFoundError: When no manifest was prepared (the message says how to).
    """
    if DBT_PROJECT.preparer.using_dagster_dev():
        prepare_manifest()
    manifest = DBT_PROJECT.manifest_path
    if not manifest.exists():
        raise FileNotFoundError(
            f"no dbt manifest at {manifest}: run `criptopipe dbt parse` first "
            "(`criptopipe run`, `ui`, `demo` and `schedules` prepare it themselves)"
        )
    if daily is None:
        daily = daily_partitions(load_settings().start_date)
    return build_dbt_assets(manifest, daily), exposure_specs(manifest)


def dbt_resource() -> DbtCliResource:
    """The dbt resource on the project, with its profiles folder and this venv's dbt.

    It runs dbt in the step's process, one parse per project and profile
    (``orchestration.dbt_runner``).
    """
    return CriptopipeDbtCliResource(
        project_dir=str(DBT_PROJECT_DIR),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=dbt_executable(),
    )


__all__: Sequence[str] = (
    "DBT_PROJECT",
    "DBT_PROJECT_DIR",
    "DBT_TARGET",
    "CriptopipeDbtTranslator",
    "build_dbt_assets",
    "dbt_resource",
    "exposure_specs",
    "load_dbt_definitions",
    "prepare_manifest",
)
