"""Switch the production schedules and sensors on or off, and say which are off.

Everything in ``orchestration.definitions`` starts stopped (a fresh install never calls an
API by itself). ``criptopipe schedules on`` starts every schedule and sensor in the Dagster
instance (``DAGSTER_HOME``) the UI's daemon reads; ``off`` stops them all; ``status`` lists
them. The state lives in the instance, so it survives restarts of ``criptopipe ui``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ingestion.settings import PROJECT_ROOT

MODULE = "orchestration.definitions"


@dataclass(frozen=True)
class Instigator:
    """A schedule or sensor and whether it is switched on.

    Attributes:
        kind: "schedule" or "sensor".
        name: its name in the definitions.
        running: whether it is switched on in the instance.
    """

    kind: str  # schedule | sensor
    name: str
    running: bool


@contextmanager
def _repository(instance: Any) -> Iterator[Any]:
    from dagster import __version__
    from dagster._cli.workspace.cli_target import get_repository_from_cli_opts
    from dagster_shared.cli import WorkspaceOpts

    opts = WorkspaceOpts(module_name=(MODULE,), working_directory=str(PROJECT_ROOT))
    with get_repository_from_cli_opts(instance, __version__, opts, None) as repo:
        yield repo


def _instigators(repo: Any) -> Iterator[tuple[str, Any]]:
    for item in repo.get_schedules():
        yield "schedule", item
    for item in repo.get_sensors():
        yield "sensor", item


def _running(instance: Any, item: Any) -> bool:
    stored = instance.get_instigator_state(item.get_remote_origin_id(), item.selector_id)
    return bool(item.get_current_instigator_state(stored).is_running)


def status(instance: Any) -> list[Instigator]:
    """Every schedule and sensor, and whether it runs."""
    with _repository(instance) as repo:
        return [
            Instigator(kind, item.name, _running(instance, item))
            for kind, item in _instigators(repo)
        ]


def switch(instance: Any, on: bool) -> list[Instigator]:
    """Start (``on``) or stop every schedule and sensor; their states afterwards."""
    with _repository(instance) as repo:
        for kind, item in _instigators(repo):
            if _running(instance, item) == on:
                continue
            if kind == "schedule":
                if on:
                    instance.start_schedule(item)
                else:
                    instance.stop_schedule(item.get_remote_origin_id(), item.selector_id, item)
            elif on:
                instance.start_sensor(item)
            else:
                instance.stop_sensor(item.get_remote_origin_id(), item.selector_id, item)
        return [
            Instigator(kind, item.name, _running(instance, item))
            for kind, item in _instigators(repo)
        ]


def switched_on(instance: Any) -> list[str]:
    """Names of the schedules and sensors switched on in ``instance``; everything else is off.

    It is quick: read from the instance's storage without loading the definitions.
    """
    from dagster._core.scheduler.instigation import InstigatorStatus

    return sorted(
        state.name
        for state in instance.all_instigator_state()
        if state.status in (InstigatorStatus.RUNNING, InstigatorStatus.DECLARED_IN_CODE)
    )
