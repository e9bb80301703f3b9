"""The one time partitioning of criptopipe: a UTC day, from ``settings.start_date``.

Candle ingestion assets and the incremental dbt marts built from them share it, so a
backfill of any date range is one run over the partition range (single-run backfill).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dagster import BackfillPolicy, DailyPartitionsDefinition

from ingestion.settings import load_settings


def daily_partitions(start_date: date) -> DailyPartitionsDefinition:
    """UTC daily partitions from ``start_date``, today's (still filling) one included."""
    # end_offset=1: today's (still filling) partition exists, so the hourly schedule can
    # keep it current.
    return DailyPartitionsDefinition(
        start_date=start_date.isoformat(), timezone="UTC", end_offset=1
    )


DAILY = daily_partitions(load_settings().start_date)
SINGLE_RUN = BackfillPolicy.single_run()


def day_window(first: date, last: date) -> tuple[datetime, datetime]:
    """The half-open UTC window [first 00:00, last + 1 day 00:00)."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return start, end
