"""The latest dbt test results, read from dbt's own artifact ``target/run_results.json``.

This is a file on disk, not a mart: it exists where ``dbt build`` (or ``make demo``) ran.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ingestion.settings import PROJECT_ROOT

RUN_RESULTS = PROJECT_ROOT / "dbt_project" / "target" / "run_results.json"


@dataclass(frozen=True)
class TestResults:
    path: Path
    generated_at: pd.Timestamp | None
    tests: pd.DataFrame  # test, model, status, failures, message, execution_time_s


def parse(document: dict[str, Any], path: Path) -> TestResults:
    """The test rows of one run_results document (models and seeds are left out)."""
    rows = []
    for result in document.get("results") or []:
        unique_id = str(result.get("unique_id", ""))
        if not unique_id.startswith(("test.", "unit_test.")):
            continue
        parts = unique_id.split(".")
        rows.append(
            {
                "test": parts[2] if len(parts) > 2 else unique_id,
                "kind": "unit test" if unique_id.startswith("unit_test.") else "data test",
                "status": str(result.get("status", "")),
                "failures": result.get("failures"),
                "message": result.get("message"),
                "execution_time_s": round(float(result.get("execution_time") or 0.0), 3),
            }
        )
    metadata = document.get("metadata") or {}
    generated = metadata.get("generated_at") if isinstance(metadata, dict) else None
    tests = pd.DataFrame(
        rows, columns=["test", "kind", "status", "failures", "message", "execution_time_s"]
    )
    order = {"error": 0, "fail": 1, "warn": 2, "skipped": 3, "pass": 4}
    tests = tests.assign(_rank=tests["status"].map(order).fillna(5))
    tests = tests.sort_values(["_rank", "test"]).drop(columns="_rank")
    return TestResults(path, pd.Timestamp(generated) if generated else None, tests)


def load(path: Path | None = None) -> TestResults | None:
    """The results of the last dbt invocation that ran tests, or None if there is none."""
    path = path or RUN_RESULTS
    try:
        document = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    results = parse(document, path)
    return results if not results.tests.empty else None
