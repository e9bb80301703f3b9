"""Jobs, schedules and the candle-gap sensor.

Schedules follow each endpoint's ``cadence`` in the registry (snapshots every 15 minutes,
hourly candles, daily series once a day), each run followed by the dbt models downstream of
what it loaded; a daily job builds the whole dbt project. The gap sensor compares the
hourly candles loaded per series and day with the 24 a complete day has, and requests
exactly the daily partitions that miss some.
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    schedule,
    sensor,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)
from psycopg import sql

from ingestion.connectors.base import EndpointSpec
from ingestion.connectors.registry import REGISTRY
from orchestration.resources import PostgresResource

# How far back the sensor looks, from the newest loaded candle. Kraken serves only its last
# ~720 hourly candles (30 days): an older gap there can never be filled, so it is not chased.
GAP_LOOKBACK_DAYS = 30
HOURS_PER_DAY = 24
ALL_ASSETS_JOB = "all_assets"
GAP_JOB = "candle_gap_backfill"


def describe_cron(cron: str) -> str:
    minute, hour, _dom, _month, dow = cron.split()
    if minute.startswith("*/"):
        return f"every_{minute[2:]}_minutes"
    if hour == "*":
        return f"hourly_at_{int(minute):02d}"
    when = f"{int(hour):02d}{int(minute):02d}"
    return f"weekdays_at_{when}" if dow != "*" else f"daily_at_{when}"


def provider_tags(specs: Sequence[EndpointSpec]) -> dict[str, str]:
    """Run tags naming every API a run calls: the run queue admits one run per provider."""
    return {f"criptopipe.provider/{s.source}": "1" for s in specs}


def asset_key(spec: EndpointSpec) -> AssetKey:
    return AssetKey(list(spec.asset_key))


# --------------------------------------------------------------------------- jobs, schedules
@dataclass(frozen=True)
class Automation:
    jobs: list[UnresolvedAssetJobDefinition]
    schedules: list[ScheduleDefinition]
    sensors: list[SensorDefinition]


def build_automation(
    dbt_models: Sequence[AssetsDefinition],
    dbt_incremental: Sequence[AssetsDefinition],
    specs: Sequence[EndpointSpec] = REGISTRY,
    *,
    transforms: Sequence[AssetsDefinition] = (),
) -> Automation:
    """``transforms``: Python assets on the marts (the pandas indicators); they follow the
    candle loads and the daily dbt build."""
    incremental = AssetSelection.assets(*dbt_incremental)
    python_marts = AssetSelection.assets(*transforms)
    unpartitioned_dbt = AssetSelection.assets(*dbt_models)
    candle_keys = [asset_key(s) for s in specs if s.is_candles]

    jobs: list[UnresolvedAssetJobDefinition] = []
    schedules: list[ScheduleDefinition] = []
    by_cadence: dict[tuple[bool, str], list[EndpointSpec]] = defaultdict(list)
    for spec in specs:
        by_cadence[(spec.is_candles, spec.cadence)].append(spec)
    for (is_candles, cron), group in sorted(by_cadence.items()):
        keys = [asset_key(s) for s in group]
        loaded = AssetSelection.assets(*keys)
        kind = "candles" if is_candles else "snapshots"
        name = f"ingest_{kind}_{describe_cron(cron)}"
        # What is downstream and shares the run's partitioning follows the load.
        follow = (incremental | python_marts) if is_candles else unpartitioned_dbt
        job = define_asset_job(
            name,
            selection=loaded | (loaded.downstream() & follow),
            description=f"Ingest {', '.join(s.name for s in group)}, then the dbt models "
            "downstream of them.",
            tags={"criptopipe/kind": kind, **provider_tags(group)},
        )
        jobs.append(job)
        schedules.append(_schedule(job, cron, partitioned=is_candles))

    dbt_job = define_asset_job(
        "dbt_daily_build",
        selection=unpartitioned_dbt | incremental | python_marts,
        description="The whole dbt project (seeds, snapshots, models and tests), then the "
        "Python marts built on it.",
    )
    jobs.append(dbt_job)
    schedules.append(
        _schedule(dbt_job, "0 1 * * *", partitioned=bool(dbt_incremental), yesterday=True)
    )

    gap_job = define_asset_job(
        GAP_JOB,
        selection=AssetSelection.assets(*candle_keys) | incremental,
        description="Re-ingest the days the gap sensor found incomplete.",
        tags=provider_tags([s for s in specs if s.is_candles]),
    )
    jobs.append(gap_job)
    jobs.append(
        define_asset_job(
            ALL_ASSETS_JOB,
            selection=AssetSelection.all(include_sources=False).materializable(),
            description="Every asset once: what `criptopipe run` executes.",
            tags=provider_tags(specs),
        )
    )
    sensors = [build_gap_sensor(gap_job, specs, incremental_keys=dbt_incremental)]
    return Automation(jobs, schedules, sensors)


def _schedule(
    job: UnresolvedAssetJobDefinition, cron: str, *, partitioned: bool, yesterday: bool = False
) -> ScheduleDefinition:
    @schedule(
        job=job,
        cron_schedule=cron,
        name=f"{job.name}_schedule",
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.STOPPED,
    )
    def _tick(context: ScheduleEvaluationContext) -> RunRequest:
        if not partitioned:
            return RunRequest()
        now = context.scheduled_execution_time or datetime.now(UTC)
        day = now.astimezone(UTC).date() - timedelta(days=1 if yesterday else 0)
        return RunRequest(partition_key=day.isoformat())

    return _tick


# --------------------------------------------------------------------------- gap sensor
@dataclass(frozen=True)
class HourlyTable:
    spec: EndpointSpec
    series_column: str  # symbol / pair / product_id

    @property
    def key(self) -> AssetKey:
        return asset_key(self.spec)


def hourly_candle_tables(specs: Sequence[EndpointSpec] = REGISTRY) -> list[HourlyTable]:
    """Candle endpoints whose raw table is keyed (series, interval, open_time)."""
    tables = []
    for spec in specs:
        names = spec.raw_table.key_names
        if spec.is_candles and "interval" in names and "open_time" in names:
            tables.append(HourlyTable(spec, names[0]))
    return tables


def find_gaps(
    conn: object, table: HourlyTable, lookback_days: int = GAP_LOOKBACK_DAYS
) -> list[date]:
    """Days with fewer than 24 hourly candles for some series, between each series' first
    loaded day and the last complete day of the table (both from what is loaded)."""
    raw = table.spec.raw_table
    ident = sql.Identifier("raw", raw.name)
    series = sql.Identifier(table.series_column)
    query = sql.SQL(
        """
        with bounds as (
            select max(open_time) + interval '1 hour' as loaded_until
            from {table} where interval = '1h'
        ),
        series as (
            select {series} as series_id,
                   greatest(min(date_trunc('day', open_time at time zone 'UTC')),
                            (select date_trunc('day', loaded_until at time zone 'UTC')
                             from bounds) - make_interval(days => %(lookback)s)) as first_day
            from {table} where interval = '1h' group by 1
        ),
        days as (
            select s.series_id, d::date as day
            from series s, bounds b,
                 generate_series(s.first_day,
                                 date_trunc('day', b.loaded_until at time zone 'UTC')
                                     - interval '1 day',
                                 interval '1 day') as d
        ),
        loaded as (
            select {series} as series_id, (open_time at time zone 'UTC')::date as day,
                   count(*) as hours
            from {table}
            where interval = '1h'
              -- only the look-back window is compared: don't count the whole history
              and open_time >= (
                  select (date_trunc('day', loaded_until at time zone 'UTC')
                          - make_interval(days => %(lookback)s)) at time zone 'UTC'
                  from bounds
              )
            group by 1, 2
        )
        select distinct days.day
        from days left join loaded using (series_id, day)
        where coalesce(loaded.hours, 0) < %(hours)s
        order by days.day
        """
    ).format(table=ident, series=series)
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute(query, {"lookback": lookback_days, "hours": HOURS_PER_DAY})
        return [row[0] for row in cur.fetchall()]


def missing_partitions(
    postgres: PostgresResource, tables: Sequence[HourlyTable]
) -> dict[str, list[AssetKey]]:
    """Partition key → the candle assets incomplete on that day."""
    wanted: dict[str, list[AssetKey]] = defaultdict(list)
    with postgres.connect("loader") as conn:
        for table in tables:
            with conn.cursor() as cur:
                cur.execute("select to_regclass(%s)", (table.spec.raw_table.qualified_name,))
                row = cur.fetchone()
            if row is None or row[0] is None:
                continue
            for day in find_gaps(conn, table):
                wanted[day.isoformat()].append(table.key)
    return dict(sorted(wanted.items()))


def build_gap_sensor(
    job: UnresolvedAssetJobDefinition,
    specs: Sequence[EndpointSpec] = REGISTRY,
    *,
    incremental_keys: Sequence[AssetsDefinition] = (),
) -> SensorDefinition:
    tables = hourly_candle_tables(specs)
    follow = [key for assets in incremental_keys for key in assets.keys]

    @sensor(
        name="candle_gap_sensor",
        job=job,
        minimum_interval_seconds=30 * 60,
        default_status=DefaultSensorStatus.STOPPED,
        description="Requests the daily partitions whose hourly candles are incomplete.",
    )
    def candle_gap_sensor(
        context: SensorEvaluationContext, postgres: PostgresResource
    ) -> Iterator[RunRequest | SkipReason] | SensorResult:
        gaps = missing_partitions(postgres, tables)
        if not gaps:
            return SensorResult(skip_reason=SkipReason("every loaded day has all its candles"))
        requests = []
        for partition_key, keys in gaps.items():
            names = ",".join(sorted(k.to_user_string() for k in keys))
            context.log.info("gap on %s in %s", partition_key, names)
            requests.append(
                RunRequest(
                    run_key=f"gap:{partition_key}:{names}:{datetime.now(UTC).date()}",
                    partition_key=partition_key,
                    asset_selection=[*keys, *follow],
                    tags={"criptopipe/trigger": "candle_gap_sensor"},
                )
            )
        return SensorResult(run_requests=requests)

    return candle_gap_sensor
