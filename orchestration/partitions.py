"""The one time partitioning of criptopipe: a UTC day, from ``settings.start_date``.

Candle ingestion assets and the incremental dbt marts built from them share it, so a
backfill of any date range is one run over the partition range (single-run backfill).
Nothing here reads the settings: ``orchestration.definitions`` builds the partitions from
the start date when Dagster loads the definitions, never at import.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dagster import BackfillPolicy, DailyPartitionsDefinition

SINGLE_RUN = BackfillPolicy.single_run()


def daily_partitions(start_date: date) -> DailyPartitionsDefinition:
    """One partition per UTC day from ``start_date``, today's included.

    ``end_offset=1``: today's (still filling) partition exists, so the hourly schedule can
    keep it current.

    Args:
        start_date: The first day (``CRIPTOPIPE_START_DATE``).

    Returns:
        The partitions definition every time-partitioned asset shares.
    """
    return DailyPartitionsDefinition(
        start_date=start_date.isoformat(), timezone="UTC", end_offset=1
    )


def day_window(first: date, last: date) -> tuple[datetime, datetime]:
    """The half-open UTC window [first 00:00, last + 1 day 00:00)."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return start, end
