"""Jobs, schedules and the candle-gap sensor.

Schedules follow each endpoint's ``cadence`` in the registry (snapshots every 15 minutes,
hourly candles, daily series once a day), each run followed by the dbt models downstream of
what it loaded; a daily job builds the whole dbt project. The gap sensor checks every
time-windowed series (1h and 1d candles of every exchange, FX on ECB business days, Fear &
Greed days) against the run clock and requests exactly the daily partitions that miss a
closed period; alert sensors post failed runs, failed blocking checks and stale endpoints
to a webhook (``orchestration.alerts``). Everything starts stopped: ``criptopipe schedules
on`` switches it on (``orchestration.switch``).
"""

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DagsterEventType,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunStatusSensorContext,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    TimeWindowPartitionsDefinition,
    define_asset_job,
    run_failure_sensor,
    run_status_sensor,
    schedule,
    sensor,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)
from psycopg import sql

from ingestion.calendars import is_ecb_business_day
from ingestion.clock import clock_for
from ingestion.connectors.base import EndpointSpec
from ingestion.connectors.registry import REGISTRY
from ingestion.raw_tables import RawTable
from ingestion.settings import load_settings
from ingestion.sinks.raw.cursors import INTERVAL_SQL, same_series_sql, series_cte
from orchestration.alerts import Alert, send_alert
from orchestration.ingestion_assets import cadence_period
from orchestration.resources import CriptopipeSettings, PostgresResource

# How far back the sensor looks, from the newest loaded candle. Kraken serves only its last
# ~720 hourly candles (30 days): an older gap there can never be filled, so it is not chased.
GAP_LOOKBACK_DAYS = 30
# A period must be loaded, final, once its endpoint's next scheduled run (one cadence period
# after it closed) plus this much has passed.
CLOSE_GRACE = timedelta(minutes=30)
ALL_ASSETS_JOB = "all_assets"
GAP_JOB = "candle_gap_backfill"
GAP_SENSOR = "candle_gap_sensor"


def describe_cron(cron: str) -> str:
    """A (simple) cron expression as a name: ``every_15_minutes``, ``daily_at_0015`` ..."""
    minute, hour, _dom, _month, dow = cron.split()
    if minute.startswith("*/"):
        return f"every_{minute[2:]}_minutes"
    if hour == "*":
        return f"hourly_at_{int(minute):02d}"
    if hour.startswith("*/"):
        return f"every_{hour[2:]}_hours_at_{int(minute):02d}"
    when = f"{int(hour):02d}{int(minute):02d}"
    return f"weekdays_at_{when}" if dow != "*" else f"daily_at_{when}"


def ingestion_job_name(is_time_windowed: bool, cron: str) -> str:
    """The name of the ingestion job of one kind and cadence (its schedule adds ``_schedule``)."""
    kind = "candles" if is_time_windowed else "snapshots"
    return f"ingest_{kind}_{describe_cron(cron)}"


DBT_JOB = "dbt_daily_build"


def provider_tags(specs: Sequence[EndpointSpec]) -> dict[str, str]:
    """Run tags naming every API a run calls: the run queue admits one run per provider."""
    return {f"criptopipe.provider/{s.source}": "1" for s in specs}


def asset_key(spec: EndpointSpec) -> AssetKey:
    """The Dagster asset key of an endpoint's ingestion asset."""
    return AssetKey(list(spec.asset_key))


# --------------------------------------------------------------------------- jobs, schedules
@dataclass(frozen=True)
class Automation:
    """The jobs, schedules and sensors of the definitions.

    Attributes:
        jobs: an ingestion job per kind and cadence, the daily dbt build, the gap job and the
            job of every asset.
        schedules: one per ingestion job and one for the dbt build.
        sensors: the gap sensor and the alert sensors.
    """

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
    """The jobs, schedules and sensors for the endpoints ``specs`` and the dbt assets.

    Each group of endpoints with the same kind and cadence gets an ingestion job and its
    schedule; what is downstream and shares the run's partitioning follows the load.
    ``transforms`` are Python assets on the marts (the pandas indicators); they follow the
    candle loads and the daily dbt build.
    """
    incremental = AssetSelection.assets(*dbt_incremental)
    python_marts = AssetSelection.assets(*transforms)
    unpartitioned_dbt = AssetSelection.assets(*dbt_models)
    candle_keys = [asset_key(s) for s in specs if s.is_time_windowed]
    first_day = _first_day(dbt_incremental)

    jobs: list[UnresolvedAssetJobDefinition] = []
    schedules: list[ScheduleDefinition] = []
    by_cadence: dict[tuple[bool, str], list[EndpointSpec]] = defaultdict(list)
    for spec in specs:
        by_cadence[(spec.is_time_windowed, spec.cadence)].append(spec)
    for (is_time_windowed, cron), group in sorted(by_cadence.items()):
        keys = [asset_key(s) for s in group]
        loaded = AssetSelection.assets(*keys)
        kind = "candles" if is_time_windowed else "snapshots"
        name = ingestion_job_name(is_time_windowed, cron)
        # What is downstream and shares the run's partitioning follows the load.
        follow = (incremental | python_marts) if is_time_windowed else unpartitioned_dbt
        job = define_asset_job(
            name,
            selection=loaded | (loaded.downstream() & follow),
            description=f"Ingest {', '.join(s.name for s in group)}, then the dbt models "
            "downstream of them.",
            tags={"criptopipe/kind": kind, **provider_tags(group)},
        )
        jobs.append(job)
        schedules.append(_schedule(job, cron, partitioned=is_time_windowed, first_day=first_day))

    dbt_job = define_asset_job(
        DBT_JOB,
        selection=unpartitioned_dbt | incremental | python_marts,
        description="The whole dbt project (seeds, snapshots, models and tests), then the "
        "Python marts built on it.",
    )
    jobs.append(dbt_job)
    schedules.append(
        _schedule(
            dbt_job,
            "0 1 * * *",
            partitioned=bool(dbt_incremental),
            yesterday=True,
            first_day=first_day,
        )
    )

    gap_job = define_asset_job(
        GAP_JOB,
        selection=AssetSelection.assets(*candle_keys) | incremental,
        description="Re-ingest the days the gap sensor found incomplete.",
        tags=provider_tags([s for s in specs if s.is_time_windowed]),
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
    sensors = [
        build_gap_sensor(gap_job, specs, incremental_keys=dbt_incremental),
        *build_alert_sensors(specs),
    ]
    return Automation(jobs, schedules, sensors)


def _first_day(assets: Sequence[AssetsDefinition]) -> date | None:
    """The first day partition of the (one) daily partitioning of ``assets``, if any."""
    for definition in assets:
        partitions = definition.partitions_def
        if isinstance(partitions, TimeWindowPartitionsDefinition):
            return partitions.start.astimezone(UTC).date()
    return None


def _schedule(
    job: UnresolvedAssetJobDefinition,
    cron: str,
    *,
    partitioned: bool,
    yesterday: bool = False,
    first_day: date | None = None,
) -> ScheduleDefinition:
    """A schedule of ``job`` at ``cron``; a partitioned job's tick requests today's day.

    ``yesterday``: the day before instead (the daily build at 01:00 finishes the day that
    ended), but never a day before ``first_day``, the first partition: on the start date
    the tick builds that day, so the first tick after the schedules go on succeeds.
    """

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
        now = context.scheduled_execution_time or clock_for(load_settings())()
        day = now.astimezone(UTC).date() - timedelta(days=1 if yesterday else 0)
        if first_day is not None:
            day = max(day, first_day)
        return RunRequest(partition_key=day.isoformat())

    return _tick


# --------------------------------------------------------------------------- gap sensor
@dataclass(frozen=True)
class GapTable:
    """A time-windowed series table the gap sensor checks, and its provider's calendar."""

    spec: EndpointSpec
    calendar: str  # "candles" (1h and 1d, every exchange) | "ecb" (FX) | "daily" (F&G)

    @property
    def key(self) -> AssetKey:
        """The asset key of the table's endpoint."""
        return asset_key(self.spec)


def gap_tables(specs: Sequence[EndpointSpec] = REGISTRY) -> list[GapTable]:
    """Every time-windowed series: candle tables (keyed by interval), FX rates, F&G."""
    tables = []
    for spec in specs:
        if not spec.is_time_windowed:
            continue
        names = spec.raw_table.key_names
        if "interval" in names:
            tables.append(GapTable(spec, "candles"))
        elif spec.gap_calendar is not None:  # the connector says (FX: "ecb", F&G: "daily")
            tables.append(GapTable(spec, spec.gap_calendar))
    return tables


def candle_gaps_sql(raw_table: RawTable) -> sql.Composed:
    """The gap query of a candle table (parameters now, since, grace, source, endpoint).

    Its cost follows the window, not the table: the series come from a loose scan of the
    primary key, their first candle from the primary key, and each series' window of rows
    from a primary-key range.
    """
    *group, time_key = raw_table.key_names
    length = sql.SQL(INTERVAL_SQL)
    return sql.SQL(
        """
        {series},
        firsts as (
            select * from (
                select s.*, (select min({time}) from {table}
                             where {same} and {time} <= %(now)s) as first_at
                from series s
            ) f where first_at is not null
        ),
        windows as (
            select s.*, greatest(s.first_at, date_trunc('day', %(since)s)) as lo,
                   %(now)s - %(grace)s - {s_len} as hi
            from firsts s
        ),
        expected as (
            -- per series, its window's periods and their rows read by a primary-key range:
            -- O(window), whatever the table holds (offset 0 keeps the join per series)
            select {s_group}, x.p as {time}, x.last_seen_at
            from windows s cross join lateral (
                select p, t.last_seen_at
                from generate_series(s.lo, s.hi, {s_len}) as p
                left join {table} t
                  on {t_same} and t.{time} = p and t.{time} between s.lo and s.hi
                offset 0
            ) x
        )
        select distinct (e.{time} at time zone 'UTC')::date
        from expected e
        left join raw.known_empty k
          on k.source = %(source)s and k.endpoint = %(endpoint)s
          and k.series = concat_ws(' ', {e_group}) and k.period_start = e.{time}
        where k.series is null
          and (e.last_seen_at is null or e.{time} + {e_len} > e.last_seen_at)
        order by 1
        """
    ).format(
        series=series_cte(raw_table),
        same=same_series_sql(raw_table),
        t_same=same_series_sql(raw_table, "t"),
        s_group=sql.SQL(", ").join(sql.Identifier("s", g) for g in group),
        e_group=sql.SQL(", ").join(sql.Identifier("e", g) for g in group),
        time=sql.Identifier(time_key),
        table=sql.Identifier("raw", raw_table.name),
        s_len=length.format(col=sql.Identifier("s", "interval")),
        e_len=length.format(col=sql.Identifier("e", "interval")),
    )


def _candle_gaps(conn: Any, table: GapTable, now: datetime, since: datetime) -> list[date]:
    """Days holding a closed period that is missing, or whose row was fetched before it closed.

    A period has closed a cadence period and :data:`CLOSE_GRACE` before ``now``; known-empty
    periods don't count.
    """
    raw_table = table.spec.raw_table
    query = candle_gaps_sql(raw_table)
    with conn.cursor() as cur:
        # What the endpoint's own next scheduled run fetches anyway is not chased.
        grace = cadence_period(table.spec.cadence) + CLOSE_GRACE
        cur.execute(
            query,
            {
                "now": now,
                "since": since,
                "grace": grace,
                "source": raw_table.source,
                "endpoint": raw_table.endpoint,
            },
        )
        return [row[0] for row in cur.fetchall()]


def _daily_gaps(conn: Any, table: GapTable, now: datetime, since: datetime) -> list[date]:
    """Days before today (by ``now``) a daily series lacks, from each series' first day.

    Every day counts for F&G; only ECB business days (no weekends, no TARGET holidays) for FX.
    """
    raw_table = table.spec.raw_table
    *group, time_key = raw_table.key_names
    series = (
        sql.SQL("concat_ws(' ', {})").format(sql.SQL(", ").join(map(sql.Identifier, group)))
        if group
        else sql.SQL("''")
    )
    query = sql.SQL("select {series}, {time} from {table} where {time} <= %(today)s").format(
        series=series, time=sql.Identifier(time_key), table=sql.Identifier("raw", raw_table.name)
    )
    today = now.astimezone(UTC).date()
    loaded: dict[str, set[date]] = defaultdict(set)
    with conn.cursor() as cur:
        cur.execute(query, {"today": today})
        for name, day in cur.fetchall():
            loaded[name].add(day)
    published = is_ecb_business_day if table.calendar == "ecb" else (lambda _d: True)
    missing: set[date] = set()
    for days in loaded.values():
        day = max(min(days), since.date())
        while day < today:
            if published(day) and day not in days:
                missing.add(day)
            day += timedelta(days=1)
    return sorted(missing)


def find_gaps(
    conn: Any, table: GapTable, now: datetime, lookback_days: int = GAP_LOOKBACK_DAYS
) -> list[date]:
    """The days (UTC) within the look-back window where ``table`` misses something."""
    since = now - timedelta(days=lookback_days)
    if table.calendar == "candles":
        return _candle_gaps(conn, table, now, since)
    return _daily_gaps(conn, table, now, since)


def missing_partitions(
    postgres: PostgresResource, tables: Sequence[GapTable], now: datetime
) -> dict[str, list[AssetKey]]:
    """Partition key → the assets incomplete on that day."""
    wanted: dict[str, list[AssetKey]] = defaultdict(list)
    with postgres.connect("loader") as conn:
        with conn.cursor() as cur:
            cur.execute("select to_regclass('raw.known_empty')")
            row = cur.fetchone()
        if row is None or row[0] is None:
            return {}  # nothing was ever ingested here
        for table in tables:
            with conn.cursor() as cur:
                cur.execute("select to_regclass(%s)", (table.spec.raw_table.qualified_name,))
                row = cur.fetchone()
            if row is None or row[0] is None:
                continue
            for day in find_gaps(conn, table, now):
                wanted[day.isoformat()].append(table.key)
    return dict(sorted(wanted.items()))


def build_gap_sensor(
    job: UnresolvedAssetJobDefinition,
    specs: Sequence[EndpointSpec] = REGISTRY,
    *,
    incremental_keys: Sequence[AssetsDefinition] = (),
) -> SensorDefinition:
    """The sensor that requests the daily partitions where a series has a gap.

    A gap is a closed candle, an ECB business day's rate or a Fear & Greed day that is missing
    or was last fetched before it closed. The incremental marts of ``incremental_keys`` follow
    the re-ingestion. The sensor is stopped by default.
    """
    tables = gap_tables(specs)
    follow = [key for assets in incremental_keys for key in assets.keys]

    @sensor(
        name=GAP_SENSOR,
        job=job,
        minimum_interval_seconds=30 * 60,
        default_status=DefaultSensorStatus.STOPPED,
        description="Requests the daily partitions where a closed candle (1h or 1d, every "
        "exchange), an ECB business day's FX rate or a Fear & Greed day is missing or was "
        "last fetched before it closed (known-empty periods excepted).",
    )
    def candle_gap_sensor(
        context: SensorEvaluationContext, postgres: PostgresResource
    ) -> Iterator[RunRequest | SkipReason] | SensorResult:
        now = clock_for(postgres.settings)()
        gaps = missing_partitions(postgres, tables, now)
        if not gaps:
            return SensorResult(skip_reason=SkipReason("every series is complete"))
        requests = []
        for partition_key, keys in gaps.items():
            names = ",".join(sorted(k.to_user_string() for k in keys))
            context.log.info("gap on %s in %s", partition_key, names)
            requests.append(
                RunRequest(
                    run_key=f"gap:{partition_key}:{names}:{now:%Y-%m-%dT%H}",
                    partition_key=partition_key,
                    asset_selection=[*keys, *follow],
                    tags={"criptopipe/trigger": GAP_SENSOR},
                )
            )
        return SensorResult(run_requests=requests)

    return candle_gap_sensor


# --------------------------------------------------------------------------- alerts
def _failed_checks(instance: Any, run_id: str) -> list[str]:
    """Failed blocking checks of a run, as "asset: check" lines."""
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    failed = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation is not None and not evaluation.passed and evaluation.blocking:
            failed.append(f"{evaluation.asset_key.to_user_string()}: {evaluation.check_name}")
    return failed


def build_alert_sensors(specs: Sequence[EndpointSpec] = REGISTRY) -> list[SensorDefinition]:
    """The alert sensors: failed runs, runs with a failed blocking check, stale endpoints.

    Each posts to ``CRIPTOPIPE_ALERT_WEBHOOK_URL`` and logs; all are stopped by default.
    """

    @run_failure_sensor(
        name="run_failure_alert",
        default_status=DefaultSensorStatus.STOPPED,
        description="Posts every failed run (and the blocking checks that failed in it) to "
        "CRIPTOPIPE_ALERT_WEBHOOK_URL, and logs it.",
    )
    def run_failure_alert(context: RunFailureSensorContext, config: CriptopipeSettings) -> None:
        run = context.dagster_run
        details = [f"run {run.run_id}", f"partition {run.tags.get('dagster/partition', '-')}"]
        if context.failure_event.message:
            details.append(context.failure_event.message.splitlines()[0][:300])
        for step in context.get_step_failure_events():
            error = step.step_failure_data.error if step.step_failure_data else None
            message = error.message.strip().splitlines()[0][:300] if error else "failed"
            details.append(f"step {step.step_key}: {message}")
        details += [f"failed check {c}" for c in _failed_checks(context.instance, run.run_id)]
        send_alert(config.get(), Alert(f"run of {run.job_name} failed", details))

    @run_status_sensor(
        name="blocking_check_alert",
        run_status=DagsterRunStatus.SUCCESS,
        default_status=DefaultSensorStatus.STOPPED,
        description="Posts a run that succeeded although a blocking check failed in it.",
    )
    def blocking_check_alert(context: RunStatusSensorContext, config: CriptopipeSettings) -> None:
        run = context.dagster_run
        failed = _failed_checks(context.instance, run.run_id)
        if failed:
            send_alert(
                config.get(),
                Alert(
                    f"blocking checks failed in a run of {run.job_name}",
                    [f"run {run.run_id}", *(f"failed check {c}" for c in failed)],
                ),
            )

    @sensor(
        name="freshness_alert",
        minimum_interval_seconds=10 * 60,
        default_status=DefaultSensorStatus.STOPPED,
        description="Posts each endpoint whose last successful load is older than two of its "
        "cadence periods (its freshness policy's fail window), once per violation.",
    )
    def freshness_alert(context: SensorEvaluationContext, postgres: PostgresResource) -> SkipReason:
        settings = postgres.settings
        now = clock_for(settings)()
        stale = stale_endpoints(postgres, specs, now)
        alerted = set(json.loads(context.cursor)) if context.cursor else set()
        new = sorted(set(stale) - alerted)
        for name in new:
            send_alert(settings, Alert(f"{name} is stale", [stale[name]]))
        context.update_cursor(json.dumps(sorted(stale)))
        return SkipReason(f"{len(stale)} stale endpoint(s), {len(new)} newly alerted")

    return [run_failure_alert, blocking_check_alert, freshness_alert]


def stale_endpoints(
    postgres: PostgresResource, specs: Sequence[EndpointSpec], now: datetime
) -> dict[str, str]:
    """Endpoint name → why it is stale: loaded once, but not within its fail window."""
    with postgres.connect("loader") as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('raw.ingestion_runs')")
        row = cur.fetchone()
        if row is None or row[0] is None:
            return {}
        cur.execute(
            "select source, endpoint, max(finished_at) from raw.ingestion_runs"
            " where status = 'success' and finished_at <= %s group by 1, 2",
            (now,),
        )
        last = {(source, endpoint): at for source, endpoint, at in cur.fetchall()}
    stale = {}
    for spec in specs:
        at = last.get((spec.source, spec.endpoint))
        window = 2 * cadence_period(spec.cadence) + max(
            timedelta(minutes=10), cadence_period(spec.cadence) / 4
        )
        if at is not None and now - at > window:
            stale[spec.name] = (
                f"last successful load {at:%Y-%m-%d %H:%M} UTC, "
                f"{(now - at) / timedelta(hours=1):.1f} h ago (allowed: "
                f"{window / timedelta(hours=1):.1f} h)"
            )
    return stale
