"""deploy/run_config/multiprocess.yaml validates against the project's all-assets job."""

from __future__ import annotations

import yaml

from ingestion.settings import PROJECT_ROOT


def test_multiprocess_run_config_validates_against_the_all_assets_job() -> None:
    from dagster import validate_run_config

    from orchestration.automation import ALL_ASSETS_JOB
    from orchestration.definitions import load_definitions

    defs = load_definitions()

    run_config = yaml.safe_load(
        (PROJECT_ROOT / "deploy" / "run_config" / "multiprocess.yaml").read_text()
    )
    validated = validate_run_config(defs.resolve_job_def(ALL_ASSETS_JOB), run_config)
    executor = validated["execution"]["multi_or_in_process_executor"]
    assert executor["multiprocess"]["max_concurrent"] == 4
