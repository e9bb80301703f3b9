"""Run the asset graph once, in this process, and say what happened.

``criptopipe run`` and the tests use this: one run of a job over a partition range (the
candle assets and incremental marts get the whole range at once — single-run backfill),
then a report per asset (status, key figures) and per check (passed or not).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

INGESTION_FIGURES = (
    "fetched",
    "inserted",
    "updated",
    "unchanged",
    "quarantined",
    "requests",
    "retries",
    "lake_documents",
)


@dataclass
class AssetOutcome:
    """What happened to one asset in a run.

    Attributes:
        key: the asset key, as a user string.
        status: "materialized", "failed" or "skipped".
        figures: its key figures (fetched, inserted ..., rows, seconds).
    """

    key: str
    status: str  # materialized | failed | skipped
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckOutcome:
    """The result of one asset check in a run.

    Attributes:
        asset: the checked asset's key, as a user string.
        name: the check's name.
        passed: whether it passed.
        severity: "ERROR" or "WARN".
        blocking: whether a failure stops the downstream assets.
    """

    asset: str
    name: str
    passed: bool
    severity: str
    blocking: bool = False


@dataclass
class RunReport:
    """What one in-process run did, asset by asset and check by check.

    Attributes:
        run_id: Dagster's run id.
        success: whether every step succeeded.
        assets: the outcome of every planned asset, by key.
        checks: the outcome of every check evaluated, by asset and name.
        failures: one line per failed step: its key and the first line of its error.
    """

    run_id: str
    success: bool
    assets: list[AssetOutcome]
    checks: list[CheckOutcome]
    failures: list[str]

    @property
    def failed_checks(self) -> list[CheckOutcome]:
        """The checks that did not pass, whatever their severity."""
        return [c for c in self.checks if not c.passed]

    @property
    def ok(self) -> bool:
        """Whether the run succeeded and no check of severity ERROR failed."""
        return self.success and not any(c.severity == "ERROR" for c in self.failed_checks)


def partition_tags(start: date, end: date) -> dict[str, str]:
    """The run tags that select the partition range ``start`` .. ``end`` (both included)."""
    return {
        ASSET_PARTITION_RANGE_START_TAG: start.isoformat(),
        ASSET_PARTITION_RANGE_END_TAG: end.isoformat(),
    }


def run_job(
    defs: Definitions,
    job_name: str,
    *,
    start: date,
    end: date,
    instance: DagsterInstance | None = None,
    asset_selection: Sequence[AssetKey] | None = None,
    tags: dict[str, str] | None = None,
    log_level: str = "WARNING",
) -> ExecuteInProcessResult:
    """Execute ``job_name`` once over the daily partitions ``start`` … ``end`` (inclusive).

    The run's events go to the instance (the Dagster UI shows them); the console logger
    only prints ``log_level`` and above.
    """
    job = defs.resolve_job_def(job_name)
    return job.execute_in_process(
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        instance=instance,
        tags={**partition_tags(start, end), **(tags or {})},
        asset_selection=list(asset_selection) if asset_selection else None,
        raise_on_error=False,
    )


def _value(entry: Any) -> Any:
    return getattr(entry, "value", entry)


def report(result: ExecuteInProcessResult) -> RunReport:
    """Summarise an in-process run: every planned asset's outcome and figures, every check.

    An asset planned but not materialized is "failed" when its step failed, else "skipped".
    """
    assets: dict[str, AssetOutcome] = {}
    for event in result.get_asset_materialization_events():
        mat = getattr(event.event_specific_data, "materialization", None)
        if mat is None:
            continue
        key = mat.asset_key.to_user_string()
        meta = {k: _value(v) for k, v in mat.metadata.items()}
        figures = {k: meta[k] for k in INGESTION_FIGURES if k in meta}
        if "elapsed_seconds" in meta:
            figures["seconds"] = meta["elapsed_seconds"]
        if "dagster/row_count" in meta:
            figures["rows"] = meta["dagster/row_count"]
        if "Execution Duration" in meta:
            figures["seconds"] = round(float(meta["Execution Duration"]), 2)
        assets[key] = AssetOutcome(key, "materialized", figures)
    failures = []
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error if event.step_failure_data else None
            message = error.message.strip().splitlines()[0] if error else "failed"
            failures.append(f"{event.step_key}: {message}")
    # Planned but not materialized: failed or skipped (upstream failed / blocking check).
    failed_steps = result.get_failed_step_keys()
    for event in result.get_asset_materialization_planned_events():
        planned = event.event_specific_data
        key_obj = getattr(planned, "asset_key", None)
        if key_obj is None:
            continue
        key = key_obj.to_user_string()
        if key not in assets:
            status = "failed" if event.step_key in failed_steps else "skipped"
            assets[key] = AssetOutcome(key, status)
    checks = [
        CheckOutcome(
            asset=evaluation.asset_key.to_user_string(),
            name=evaluation.check_name,
            passed=evaluation.passed,
            severity=evaluation.severity.value,
            blocking=bool(evaluation.blocking),
        )
        for evaluation in result.get_asset_check_evaluations()
    ]
    return RunReport(
        run_id=result.run_id,
        success=result.success,
        assets=sorted(assets.values(), key=lambda a: a.key),
        checks=sorted(checks, key=lambda c: (c.asset, c.name)),
        failures=failures,
    )
