"""The one clock of a run: what "now" is for planning, fetch times, cursors and checks.

Production runs follow the real UTC time. ``CRIPTOPIPE_NOW`` (``Settings.now``) freezes it
at one instant: the tests and the soak test set it to the simulator's clock, so a run sees
exactly the market the simulator serves, and a replay of a past day plans as on that day.
Nothing in planning, partitions or checks calls ``datetime.now()`` itself: it asks
:func:`clock_for` (or is handed the ``now`` it returned).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ingestion.settings import Settings

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real UTC time."""
    return datetime.now(UTC)


def fixed_clock(at: datetime) -> Clock:
    """A clock stopped at ``at`` (a naive time is taken as UTC)."""
    frozen = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    frozen = frozen.astimezone(UTC)

    def now() -> datetime:
        return frozen

    return now


def clock_for(settings: Settings) -> Clock:
    """The clock ``settings`` configure: ``CRIPTOPIPE_NOW`` when set, else the real time."""
    return fixed_clock(settings.now) if settings.now is not None else system_clock


def now(settings: Settings) -> datetime:
    """``clock_for(settings)()``: the run's now."""
    return clock_for(settings)()
