"""How Dagster's dbt steps start dbt: an hourly schedule's runs reuse one parse of the
project, ask dbt its version once, read their window from the environment, and leave no
target folder behind."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster_dbt.core.resource as dbt_cli_resource
import pytest
from dagster import DagsterInstance, materialize

from orchestration.dbt_assets import DBT_PROJECT_DIR, DBT_TARGET, dbt_resource
from orchestration.dbt_invocations import (
    KEEP_FAILED,
    PARTIAL_PARSE,
    PARTITION_ENV,
    parse_cache,
    prune,
)
from orchestration.resources import CriptopipeSettings, PostgresResource

DAYS = ("2026-01-05", "2026-01-06")  # two partitions, as two hourly runs on two days would


@dataclass
class Runs:
    outputs: list[str]  # what each run's dbt printed
    run_ids: list[str]
    version_calls: list[Any]  # every check_output call of dagster-dbt (dbt --version)


@pytest.fixture(scope="module")
def runs(orch_env: dict[str, str]) -> Runs:
    """The incremental marts materialized three times: day 1 (which may parse the project
    for this warehouse, once), then day 1 and day 2 again."""
    from orchestration.dbt_assets import load_dbt_definitions
    from orchestration.definitions import load_definitions

    defs = load_definitions()  # prepares the dbt manifest
    _dbt_assets, _ = load_dbt_definitions()
    incremental = next(a for a in _dbt_assets if a.partitions_def)
    calls: list[Any] = []
    real_check_output = dbt_cli_resource.check_output

    def counting_check_output(args: Any, *rest: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real_check_output(args, *rest, **kwargs)

    outputs, run_ids = [], []
    with pytest.MonkeyPatch.context() as mp, DagsterInstance.ephemeral() as instance:
        mp.setattr(dbt_cli_resource, "check_output", counting_check_output)
        for day in (DAYS[0], *DAYS):
            out = io.StringIO()  # dagster-dbt echoes dbt's log lines to sys.stdout
            with contextlib.redirect_stdout(out):
                result = materialize(
                    [incremental], partition_key=day, resources=defs.resources, instance=instance
                )
            assert result.success, out.getvalue()[-3000:]
            outputs.append(out.getvalue())
            run_ids.append(result.run_id)
    return Runs(outputs, run_ids, calls)


def test_runs_with_a_new_window_do_not_reparse_the_project(runs: Runs) -> None:
    # --vars with each run's window made dbt re-parse the whole project every run; so
    # did a parse made for another warehouse profile than the run's.
    for day, out in zip(DAYS, runs.outputs[1:], strict=True):
        assert "Completed successfully" in out
        assert "Unable to do partial parsing" not in out, (day, out[-3000:])


def test_dbt_is_asked_its_version_once_per_process(runs: Runs) -> None:
    # Already asked by an earlier test in this process, or once here: never once per run.
    assert len([a for a in runs.version_calls if "--version" in a]) <= 1


def test_no_target_folder_is_left_per_run(runs: Runs) -> None:
    root = DBT_PROJECT_DIR / DBT_TARGET
    left = [p for p in root.rglob("dbt_incremental_models-*") if _of_runs(p, runs.run_ids)]
    assert left == []


def test_the_window_reaches_the_incremental_marts_as_environment_variables(
    runs: Runs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A malformed window stops the build (so the macro reads it), a valid one builds."""
    postgres = PostgresResource(config=CriptopipeSettings())
    postgres.export_dbt_env()
    cache = parse_cache(DBT_PROJECT_DIR / DBT_TARGET, postgres.dbt_env())
    shutil.copy(cache / PARTIAL_PARSE, tmp_path)  # the runs' parse, not a new one
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path))
    start, end = PARTITION_ENV
    build = ["build", "--select", "fct_candles_hourly", "--resource-type", "model"]
    monkeypatch.setenv(end, "2026-01-06T00:00:00+00:00")
    monkeypatch.setenv(start, "the day before")
    assert not dbt_resource().cli(build, raise_on_error=False).wait().is_successful()
    monkeypatch.setenv(start, "2026-01-05T00:00:00+00:00")
    assert dbt_resource().cli(build, raise_on_error=False).wait().is_successful()


def _of_runs(path: Path, run_ids: list[str]) -> bool:
    return any(f"-{run_id[:7]}-" in path.name for run_id in run_ids)


def test_old_failed_folders_and_unused_profile_caches_are_pruned(tmp_path: Path) -> None:
    cache = parse_cache(tmp_path, {"CRIPTOPIPE_DBT_DBNAME": "used"})
    other = parse_cache(tmp_path, {"CRIPTOPIPE_DBT_DBNAME": "a dropped test database"})
    failed, recent = cache / "dbt_models-1234567-abcdefg", cache / "dbt_models-7654321-gfedcba"
    for folder in (failed, recent):
        folder.mkdir()
    long_ago = time.time() - KEEP_FAILED.total_seconds() - 60
    for path in (failed, other):
        os.utime(path, (long_ago, long_ago))
    prune(cache)
    assert sorted(p.name for p in tmp_path.iterdir()) == [cache.name]
    assert [p.name for p in cache.iterdir()] == [recent.name]
