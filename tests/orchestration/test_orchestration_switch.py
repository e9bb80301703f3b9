"""`criptopipe schedules on|off|status`: every schedule and sensor starts off; one command
switches them all on in the instance the daemon reads, and off again."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance

from orchestration.dbt_assets import prepare_manifest
from orchestration.switch import status, switch, switched_on


@pytest.mark.slow
def test_one_command_switches_every_schedule_and_sensor_on_and_off(
    orch_env: dict[str, str],
) -> None:
    prepare_manifest()  # as `criptopipe schedules` does before loading the definitions
    with DagsterInstance.local_temp() as instance:
        before = status(instance)
        assert before and not any(i.running for i in before)
        assert {i.kind for i in before} == {"schedule", "sensor"}
        assert switched_on(instance) == []
        on = switch(instance, True)
        assert all(i.running for i in on)
        assert switched_on(instance) == sorted(i.name for i in on)
        off = switch(instance, False)
        assert not any(i.running for i in off)
        assert switched_on(instance) == []
