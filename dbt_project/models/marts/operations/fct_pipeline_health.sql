{#
    One row per raw source endpoint: its last run and last success, what arrived in the
    last 24 hours, what was quarantined, and whether its data is fresh by the thresholds
    declared on the source (the same ones `dbt source freshness` uses).
#}

with

raw_loads as (

    select * from {{ ref('int_raw_table_loads') }}

),

runs as (

    select * from {{ ref('stg_ingestion__runs') }}

),

quarantined_records as (

    select * from {{ ref('stg_ingestion__quarantined_records') }}

),

freshness_rules as (

    {{ source_freshness_rules() }}

),

last_runs as (

    select distinct on (source_name, endpoint_name)
        source_name,
        endpoint_name,
        started_at as last_run_at,
        run_status as last_run_status,
        error_message as last_error_message
    from runs
    order by source_name asc, endpoint_name asc, started_at desc

),

run_summary as (

    select
        source_name,
        endpoint_name,
        max(coalesce(finished_at, started_at)) filter (where is_success) as last_success_at,
        count(*) filter (
            where started_at >= now() - interval '24 hours'
        ) as runs_last_24h,
        count(*) filter (
            where started_at >= now() - interval '24 hours' and not is_success
        ) as failed_runs_last_24h,
        coalesce(sum(fetched_count) filter (
            where started_at >= now() - interval '24 hours'
        ), 0) as records_fetched_last_24h
    from runs
    group by source_name, endpoint_name

),

quarantine_summary as (

    select
        source_name,
        endpoint_name,
        count(*) as quarantined_count,
        count(*) filter (
            where quarantined_at >= now() - interval '24 hours'
        ) as quarantined_last_24h
    from quarantined_records
    group by source_name, endpoint_name

),

joined as (

    select
        raw_loads.source_name,
        raw_loads.endpoint_name,
        last_runs.last_run_at,
        last_runs.last_run_status,
        last_runs.last_error_message,
        run_summary.last_success_at,
        coalesce(run_summary.runs_last_24h, 0) as runs_last_24h,
        coalesce(run_summary.failed_runs_last_24h, 0) as failed_runs_last_24h,
        coalesce(run_summary.records_fetched_last_24h, 0) as records_fetched_last_24h,
        raw_loads.rows_fetched_last_24h,
        raw_loads.row_count,
        raw_loads.last_fetched_at,
        coalesce(quarantine_summary.quarantined_count, 0) as quarantined_count,
        coalesce(quarantine_summary.quarantined_last_24h, 0) as quarantined_last_24h,
        freshness_rules.warn_after as freshness_warn_after,
        freshness_rules.error_after as freshness_error_after,
        now() as evaluated_at
    from raw_loads
    left join last_runs
        on
            raw_loads.source_name = last_runs.source_name
            and raw_loads.endpoint_name = last_runs.endpoint_name
    left join run_summary
        on
            raw_loads.source_name = run_summary.source_name
            and raw_loads.endpoint_name = run_summary.endpoint_name
    left join quarantine_summary
        on
            raw_loads.source_name = quarantine_summary.source_name
            and raw_loads.endpoint_name = quarantine_summary.endpoint_name
    left join freshness_rules
        on
            raw_loads.source_name = freshness_rules.source_name
            and raw_loads.endpoint_name = freshness_rules.endpoint_name

),

final as (

    select
        *,
        case
            when last_fetched_at is null then 'never_loaded'
            when last_fetched_at < evaluated_at - freshness_error_after then 'error'
            when last_fetched_at < evaluated_at - freshness_warn_after then 'warn'
            else 'fresh'
        end as freshness_status
    from joined

)

select * from final
