"""Ingestion assets, generated from the connector registry: one asset per API endpoint.

Key ``raw/<source>/<endpoint>``, group ``<source>``, concurrency pool ``<source>`` (so two
runs never hit one API at once), daily partitions and a single-run backfill policy for the
time-windowed endpoints, none for snapshots. Adding an API to ``ingestion.connectors.registry``
adds its asset here without a change in this module.
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, timedelta

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Backoff,
    DailyPartitionsDefinition,
    Failure,
    FreshnessPolicy,
    Jitter,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)

from ingestion.clock import clock_for
from ingestion.connectors.base import EndpointSpec
from ingestion.connectors.registry import REGISTRY
from ingestion.run.results import EndpointStats
from ingestion.settings import load_settings
from orchestration.partitions import SINGLE_RUN, daily_partitions
from orchestration.resources import IngestionResource

# Transient failures (a provider's 5xx burst, a dropped connection) get retried by Dagster
# on top of the HTTP client's own retries; loading is idempotent, so a retry is safe.
TRANSIENT_RETRY = RetryPolicy(
    max_retries=2, delay=20, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)
ACCOUNTING_CHECK = "accounting"
COUNTS = (
    "requests",
    "retries",
    "fetched",
    "inserted",
    "updated",
    "unchanged",
    "quarantined",
    "lake_documents",
)


def cadence_period(cron: str) -> timedelta:
    """The longest gap between two ticks of a (simple) cron expression.

    It is how stale an endpoint may be before one scheduled run is missed.
    """
    minute, hour, _dom, _month, dow = cron.split()
    if minute.startswith("*/"):
        return timedelta(minutes=int(minute[2:]))
    if hour == "*":
        return timedelta(hours=1)
    if hour.startswith("*/"):
        return timedelta(hours=int(hour[2:]))
    if dow != "*":  # business days: Friday to Monday is the longest gap
        return timedelta(days=3)
    return timedelta(days=1)


def freshness_for(cron: str) -> FreshnessPolicy:
    """Warn after one missed tick, fail after two (plus a little slack for the run)."""
    period = cadence_period(cron)
    slack = max(timedelta(minutes=10), period / 4)
    return FreshnessPolicy.time_window(fail_window=2 * period + slack, warn_window=period + slack)


def ingestion_run_id(dagster_run_id: str, spec: EndpointSpec, retry_number: int = 0) -> str:
    """The ingestion run id of one attempt of an endpoint's step in a Dagster run.

    One per step (a step that first loads the listings writes rows of those endpoints too)
    and one per attempt: a retried step's accounting counts the rows that carry its id, and
    rows an earlier attempt wrote (and the retry found unchanged) are not the retry's.
    """
    run_id = f"dagster-{dagster_run_id}-{spec.source}-{spec.endpoint}"
    return f"{run_id}-attempt{retry_number + 1}" if retry_number else run_id


def ingestion_asset(
    spec: EndpointSpec,
    daily: DailyPartitionsDefinition,
    retry_policy: RetryPolicy | None = TRANSIENT_RETRY,
) -> AssetsDefinition:
    """The Dagster asset that ingests one endpoint into its raw table and the lake.

    A time-windowed endpoint is daily-partitioned (single-run backfill) and fetches its
    partition's window; a snapshot endpoint is unpartitioned. The blocking accounting check
    compares fetched records with inserted + updated + unchanged + quarantined; a failed or
    partial endpoint fails the step so the retry policy fetches the rest.

    Args:
        spec: The endpoint.
        daily: The day partitions a time-windowed endpoint is backfilled by.
        retry_policy: Dagster's retries of a failed or partial step (None: none).

    Returns:
        The asset, with its accounting check.
    """
    key = AssetKey(list(spec.asset_key))
    partitioned = spec.is_time_windowed
    table = spec.raw_table

    @asset(
        key=key,
        group_name=spec.source,
        description=f"{spec.description}\n\nLands in `{table.qualified_name}` "
        f"(natural key: {', '.join(table.key_names)}) and every response in `lake.responses`.",
        partitions_def=daily if partitioned else None,
        backfill_policy=SINGLE_RUN if partitioned else None,
        pool=spec.source,
        retry_policy=retry_policy,
        kinds={"python", "postgres", "mongodb"},
        tags={
            "criptopipe/source": spec.source,
            "criptopipe/layer": "raw",
            "criptopipe/kind": "candles" if partitioned else "snapshot",
        },
        freshness_policy=freshness_for(spec.cadence),
        metadata={
            "table": MetadataValue.text(table.qualified_name),
            "cadence": MetadataValue.text(spec.cadence),
            **(
                {"history_limit": MetadataValue.text(spec.history_limit)}
                if spec.history_limit
                else {}
            ),
        },
        check_specs=[
            AssetCheckSpec(
                ACCOUNTING_CHECK,
                asset=key,
                blocking=True,
                description="fetched = inserted + updated + unchanged + quarantined",
            )
        ],
    )
    def _ingest(
        context: AssetExecutionContext, ingestion: IngestionResource
    ) -> Iterator[MaterializeResult]:
        start = end = None
        if partitioned:
            window = context.partition_time_window
            start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
            end = min(end, clock_for(ingestion.config.get())())  # the run's one clock
            context.log.info("%s: window %s .. %s", spec.name, start, end)
        summary = ingestion.run(
            source=spec.source,
            endpoint=spec.endpoint,
            start=start,
            end=end,
            run_id=ingestion_run_id(context.run.run_id, spec, context.retry_number),
        )
        stats = next(
            s for s in summary.endpoints if (s.source, s.endpoint) == (spec.source, spec.endpoint)
        )
        metadata = endpoint_metadata(stats)
        if partitioned and start is not None and end is not None:
            metadata["window_start"] = MetadataValue.timestamp(start)
            metadata["window_end"] = MetadataValue.timestamp(end)
        if stats.status == "failed":
            raise Failure(f"{spec.name} failed: {stats.error}", metadata=metadata)
        accounted = stats.inserted + stats.updated + stats.unchanged + stats.quarantined
        yield MaterializeResult(
            metadata=metadata,
            check_results=[
                AssetCheckResult(
                    check_name=ACCOUNTING_CHECK,
                    passed=stats.fetched == accounted,
                    severity=AssetCheckSeverity.ERROR,
                    metadata={"fetched": stats.fetched, "accounted": accounted},
                )
            ],
        )
        if stats.status == "partial":
            # Loaded pages stay (loading is idempotent); fail the step so the retry policy
            # fetches the rest.
            raise Failure(f"{spec.name} partially failed: {stats.error}", metadata=metadata)

    return _ingest


def endpoint_metadata(stats: EndpointStats) -> dict[str, MetadataValue]:
    """What one endpoint's run did, as materialization metadata (numbers plot in the UI)."""
    metadata: dict[str, MetadataValue] = {
        name: MetadataValue.int(int(getattr(stats, name))) for name in COUNTS
    }
    metadata["elapsed_seconds"] = MetadataValue.float(round(stats.elapsed, 3))
    metadata["status"] = MetadataValue.text(stats.status)
    if stats.notes:
        metadata["notes"] = MetadataValue.md("\n".join(f"- {n}" for n in stats.notes))
    if stats.error:
        metadata["error"] = MetadataValue.text(stats.error)
    if stats.symbols:  # the resolved mapping this run requested (from the listings)
        metadata["symbols"] = MetadataValue.md(
            "| asset | requested as |\n|---|---|\n"
            + "\n".join(f"| {a} | `{s}` |" for a, s in sorted(stats.symbols.items()))
        )
    return metadata


def build_ingestion_assets(
    specs: Sequence[EndpointSpec] = REGISTRY,
    daily: DailyPartitionsDefinition | None = None,
    retry_policy: RetryPolicy | None = TRANSIENT_RETRY,
) -> list[AssetsDefinition]:
    """One ingestion asset per endpoint of the registry (or of ``specs``).

    Args:
        specs: The endpoints.
        daily: The day partitions; ``None`` builds them from the current settings'
            ``start_date`` (read now, when called, never at import).
        retry_policy: Dagster's retries of a failed or partial step (None: none).

    Returns:
        The assets.
    """
    if daily is None:
        daily = daily_partitions(load_settings().start_date)
    return [ingestion_asset(spec, daily, retry_policy) for spec in specs]


CANDLE_SPECS = tuple(s for s in REGISTRY if s.is_time_windowed)
SNAPSHOT_SPECS = tuple(s for s in REGISTRY if not s.is_time_windowed)
