"""Dagster orchestration of criptopipe: ingestion and dbt assets, schedules, sensors, the CLI."""
