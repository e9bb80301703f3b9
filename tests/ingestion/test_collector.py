"""A run paces Python's garbage collector and gives the process its own pacing back."""

from __future__ import annotations

import gc

from ingestion.run.collector import RUN_THRESHOLDS, fewer_collections


def test_thresholds_are_raised_for_overlapping_runs_and_restored_after_the_last() -> None:
    before = gc.get_threshold()
    first, second = fewer_collections(), fewer_collections()
    first.__enter__()
    assert gc.get_threshold() == RUN_THRESHOLDS
    second.__enter__()
    first.__exit__(None, None, None)  # runs overlap: the other one is still going
    assert gc.get_threshold() == RUN_THRESHOLDS
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
    assert gc.isenabled()


def test_a_failing_run_restores_the_thresholds_too() -> None:
    before = gc.get_threshold()
    try:
        with fewer_collections():
            raise RuntimeError("the run failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
