"""The Data health queries: pipeline health, runs, quarantine and dbt test results."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from dashboard.data.warehouse import read_health


def pipeline_health() -> pd.DataFrame:
    """Per source endpoint: freshness, last load and success, 24-hour figures and quarantine.

    Rows and runs in 24 h, quarantined records, and hours since the last load, as evaluated
    by the mart.
    """
    return read_health(
        """
        select
            source_name, endpoint_name, freshness_status,
            round(extract(epoch from evaluated_at - last_fetched_at) / 3600, 2)
                as hours_since_fetch,
            last_fetched_at, last_success_at, last_run_at, last_run_status,
            runs_last_24h, failed_runs_last_24h, rows_fetched_last_24h, row_count,
            quarantined_count, quarantined_last_24h, last_error_message,
            round(extract(epoch from freshness_warn_after) / 3600, 2) as warn_after_hours,
            round(extract(epoch from freshness_error_after) / 3600, 2) as error_after_hours,
            evaluated_at
        from marts.fct_pipeline_health
        order by source_name, endpoint_name
        """
    )


def recent_runs(limit: int = 50) -> pd.DataFrame:
    """The latest ingestion runs per endpoint with their counts (newest first)."""
    return read_health(
        """
        select started_at, source_name, endpoint_name, run_status, duration_seconds,
               request_count, retry_count, fetched_count, inserted_count, updated_count,
               unchanged_count, quarantined_count, lake_document_count, error_message
        from marts.fct_ingestion_runs
        order by started_at desc, source_name, endpoint_name
        limit %(limit)s
        """,
        {"limit": limit},
    )


def lake_documents() -> pd.DataFrame:
    """Lake documents written per source (responses kept in MongoDB), from the run log."""
    return read_health(
        """
        select source_name, sum(lake_document_count) as lake_documents,
               count(*) as runs, max(started_at) as last_run_at
        from marts.fct_ingestion_runs
        group by source_name
        order by source_name
        """
    )


def quarantine_reasons() -> pd.DataFrame:
    """Quarantined records per source, endpoint and reason."""
    return read_health(
        """
        select source_name, endpoint_name, quarantine_reason, quarantined_count,
               quarantined_last_24h, unparsed_body_count, first_quarantined_at,
               last_quarantined_at
        from marts.fct_quarantine_reasons
        order by quarantined_count desc, source_name, endpoint_name
        """
    )


def dbt_test_results(days: int = 7) -> pd.DataFrame:
    """The latest result of each dbt test and unit test, whichever dbt invocation ran it.

    Invocations are Dagster's, ``criptopipe dbt build``'s or docker compose's; failures come
    first. dbt's on-run-end hook (``dbt_project/macros/persist_run_results.sql``) records every
    invocation in ``marts.dbt_run_results``; tests last run more than ``days`` before the
    newest invocation (removed from the project since) are left out.
    """
    return read_health(
        """
        with latest as (
            select distinct on (unique_id)
                node_name, resource_type, status, failures, message, execution_time_seconds,
                command, invocation_started_at
            from marts.dbt_run_results
            where resource_type in ('test', 'unit_test')
              and invocation_started_at >= (
                  select max(invocation_started_at) from marts.dbt_run_results
              ) - make_interval(days => %(days)s)
            order by unique_id, invocation_started_at desc, recorded_at desc
        )

        select
            node_name as test,
            case when resource_type = 'unit_test' then 'unit test' else 'data test' end as kind,
            status,
            failures,
            message,
            round(execution_time_seconds::numeric, 3) as execution_time_s,
            command as dbt_command,
            invocation_started_at as ran_at
        from latest
        order by
            case status
                when 'error' then 0 when 'fail' then 1 when 'warn' then 2
                when 'skipped' then 3 when 'pass' then 4 else 5
            end,
            node_name
        """,
        {"days": days},
    )


def now_utc() -> datetime:
    """The time the page was rendered (for "as of" captions of things that are not data)."""
    return datetime.now(UTC)
