"""``DAGSTER_HOME``: a folder in the project's local state directory, with a dagster.yaml.

The instance keeps run and event storage in SQLite under it, queues runs, and limits every
concurrency pool (one per API provider, plus ``dbt``) to one step at a time, so two runs
never exceed a provider's rate limit nor build dbt twice at once.
"""

from __future__ import annotations

import os
from pathlib import Path

from ingestion.connectors.registry import sources
from ingestion.settings import Settings

DAGSTER_YAML = """\
# Written by criptopipe (orchestration/instance.py); edit freely, it is not overwritten.
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 4
    tag_concurrency_limits:
{tag_limits}
  pools:
    # Every pool (one per API provider, plus dbt) runs one step at a time across all runs.
    default_limit: 1
    granularity: op
run_monitoring:
  enabled: true
  max_resume_run_attempts: 0
  start_timeout_seconds: 180
run_retries:
  enabled: true
  max_retries: 0
retention:
  schedule:
    purge_after_days: 30
  sensor:
    purge_after_days: 30
"""


def dagster_yaml() -> str:
    limits = [
        "      # One backfill and one gap repair at a time; one run per API provider.",
        "      - key: dagster/backfill",
        "        limit: 1",
        "      - key: criptopipe/trigger",
        "        value: candle_gap_sensor",
        "        limit: 1",
    ]
    for source in sources():
        limits += [f"      - key: criptopipe.provider/{source}", "        limit: 1"]
    return DAGSTER_YAML.format(tag_limits="\n".join(limits))


def ensure_dagster_home(settings: Settings, *, export: bool = True) -> Path:
    """Create ``DAGSTER_HOME`` (an existing ``DAGSTER_HOME`` variable wins) with a
    dagster.yaml if it has none; export it for this process and its children."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(dagster_yaml())
    if export:
        os.environ["DAGSTER_HOME"] = str(home)
    return home
