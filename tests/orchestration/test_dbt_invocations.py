"""How Dagster's dbt steps start dbt: in the step's process, no dbt child process, one parse
of the project for an hourly schedule's runs; they read their window from the environment,
leave no target folder behind, and a failing dbt test still fails the run with its message."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster_dbt.core.dbt_cli_invocation as dbt_cli_invocation
import dagster_dbt.core.resource as dbt_cli_resource
import pytest
from dagster import DagsterInstance, materialize
from dbt.cli.main import dbtRunner

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
    processes: list[Any]  # every dbt child process started
    commands: list[list[str]]  # per run, the dbt commands run in this process


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
    processes: list[Any] = []
    commands: list[list[str]] = []
    real_check_output = dbt_cli_resource.check_output
    real_popen = dbt_cli_invocation.subprocess.Popen
    real_invoke = dbtRunner.invoke

    def counting_check_output(args: Any, *rest: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real_check_output(args, *rest, **kwargs)

    def counting_popen(args: Any, *rest: Any, **kwargs: Any) -> Any:
        if Path(str(args[0])).name == "dbt":  # not the `uname -p` of platform.processor()
            processes.append(args)
        return real_popen(args, *rest, **kwargs)

    def counting_invoke(self: dbtRunner, args: list[str], **kwargs: Any) -> Any:
        commands[-1].append(args[0])
        return real_invoke(self, args, **kwargs)

    outputs, run_ids = [], []
    with pytest.MonkeyPatch.context() as mp, DagsterInstance.ephemeral() as instance:
        mp.setattr(dbt_cli_resource, "check_output", counting_check_output)
        mp.setattr(dbt_cli_invocation.subprocess, "Popen", counting_popen)
        mp.setattr(dbtRunner, "invoke", counting_invoke)
        for day in (DAYS[0], *DAYS):
            commands.append([])
            out = io.StringIO()  # dagster-dbt echoes dbt's log lines to sys.stdout
            with contextlib.redirect_stdout(out):
                result = materialize(
                    [incremental], partition_key=day, resources=defs.resources, instance=instance
                )
            assert result.success, out.getvalue()[-3000:]
            outputs.append(out.getvalue())
            run_ids.append(result.run_id)
    return Runs(outputs, run_ids, calls, processes, commands)


def test_runs_with_a_new_window_do_not_reparse_the_project(runs: Runs) -> None:
    # --vars with each run's window made dbt re-parse the whole project every run; so
    # did a parse made for another warehouse profile than the run's.
    for day, out in zip(DAYS, runs.outputs[1:], strict=True):
        assert "Completed successfully" in out
        assert "Unable to do partial parsing" not in out, (day, out[-3000:])


def test_the_runs_run_dbt_in_process_and_parse_the_project_once(runs: Runs) -> None:
    # A dbt child process per run cost ~4 CPU s of dbt start-up and a load of the parse
    # each hour: dbt now runs in the step's process and keeps its parse.
    assert runs.processes == []
    assert runs.version_calls == []  # no `dbt --version` either
    # The first run may parse (unless an earlier test in this process did) and, on a fresh
    # warehouse, build the project's relations first; the later runs only build.
    assert runs.commands[0].count("parse") <= 1
    assert runs.commands[1:] == [["build"], ["build"]]


def test_no_target_folder_is_left_per_run(runs: Runs) -> None:
    root = DBT_PROJECT_DIR / DBT_TARGET
    left = [p for p in root.rglob("dbt_incremental_models-*") if _of_runs(p, runs.run_ids)]
    assert left == []


def test_the_window_reaches_the_incremental_marts_as_environment_variables(
    runs: Runs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A malformed window stops the build with dbt's message (so the macro reads it), a
    valid one builds."""
    postgres = PostgresResource(config=CriptopipeSettings())
    postgres.export_dbt_env()
    cache = parse_cache(DBT_PROJECT_DIR / DBT_TARGET, postgres.dbt_env())
    shutil.copy(cache / PARTIAL_PARSE, tmp_path)  # the runs' parse, not a new one
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path))
    start, end = PARTITION_ENV
    build = ["build", "--select", "fct_candles_hourly", "--resource-type", "model"]
    monkeypatch.setenv(end, "2026-01-06T00:00:00+00:00")
    monkeypatch.setenv(start, "the day before")
    dbt = dbt_resource()
    failed = dbt.cli(build, raise_on_error=False).wait()
    assert not failed.is_successful()
    error = failed.get_error()
    assert error is not None and "the day before" in str(error)  # dbt's message
    monkeypatch.setenv(start, "2026-01-05T00:00:00+00:00")
    assert dbt.cli(build, raise_on_error=False).wait().is_successful()


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


def test_a_failing_dbt_test_fails_the_run_with_its_message(runs: Runs) -> None:
    """A candle of the run's day whose high is below its low fails the blocking OHLC test
    (a partitioned run tests the rows of its window): the check fails, the run fails, and
    its failure carries dbt's line for the test."""
    from orchestration.dbt_assets import load_dbt_definitions
    from orchestration.definitions import load_definitions

    defs = load_definitions()
    incremental = next(a for a in load_dbt_definitions()[0] if a.partitions_def)
    postgres = PostgresResource(config=CriptopipeSettings())
    bad = (
        "insert into marts.fct_candles_hourly (exchange_id, asset_id, quote_currency,"
        " interval, open_at, close_at, open_price, high_price, low_price, close_price,"
        " volume, is_closed, last_seen_at) values ('binance', 'BTC', 'USDT', '1h',"
        " %s, %s, 10, 9, 11, 10, 1, true, now())"
    )
    at = f"{DAYS[0]}T05:00:00+00:00"
    with postgres.connect("transformer") as conn:  # no raw candle of that hour replaces it
        conn.execute(bad, [at, f"{DAYS[0]}T06:00:00+00:00"])
    try:
        with DagsterInstance.ephemeral() as instance, contextlib.redirect_stdout(io.StringIO()):
            result = materialize(
                [incremental],
                partition_key=DAYS[0],
                resources=defs.resources,
                instance=instance,
                raise_on_error=False,
            )
    finally:
        with postgres.connect("transformer") as conn:
            deleted = conn.execute(
                "delete from marts.fct_candles_hourly where open_at = %s and high_price = 9",
                [at],
            ).rowcount
    assert deleted == 1, "the run replaced the bad candle: the test tested nothing"
    assert not result.success
    # (Its relationships tests fail too: this warehouse's dimensions are empty.)
    failed = {c.check_name: c for c in result.get_asset_check_evaluations() if not c.passed}
    assert failed["ohlc_consistency_fct_candles_hourly_"].blocking
    failures = [e for e in result.all_events if e.is_step_failure]
    message = str(failures[0].step_failure_data.error) if failures else ""
    assert "FAIL 1 ohlc_consistency_fct_candles_hourly_" in message, message[-2000:]
