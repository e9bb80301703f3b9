"""What a run reports: per endpoint, per run, and while it goes.

:class:`EndpointStats` is one endpoint's row of ``raw.ingestion_runs``,
:class:`RunSummary` the whole run, :class:`ProgressEvent` what a progress bar is told.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingestion.sinks.raw.rows import LoadCounts


def join_errors(first: str | None, second: str) -> str:
    """``second`` appended to ``first`` on a line of its own (``first`` may be empty)."""
    return second if not first else f"{first}\n{second}"


@dataclass(slots=True)
class EndpointStats:
    """What one run did for one endpoint (a row of ``raw.ingestion_runs``)."""

    source: str
    endpoint: str
    status: str = "success"  # success | partial | failed
    requests: int = 0
    retries: int = 0
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    lake_documents: int = 0
    elapsed: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    # asset -> the name it was requested by on this source (exchange pair, CoinGecko id)
    symbols: dict[str, str] = field(default_factory=dict)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    @property
    def name(self) -> str:
        """``<source>/<endpoint>``."""
        return f"{self.source}/{self.endpoint}"

    def add_counts(self, counts: LoadCounts) -> None:
        """Add one batch's counts; a problem the database reported fails the run."""
        self.inserted += counts.inserted
        self.updated += counts.updated
        self.unchanged += counts.unchanged
        self.quarantined += counts.quarantined
        for problem in counts.problems:
            self.accounting_failed(problem)

    def accounting_failed(self, problem: str) -> None:
        """The numbers do not add up: the run is failed, and says why."""
        self.status = "failed"
        self.error = join_errors(self.error, f"{self.name}: accounting does not add up: {problem}")

    def check_sum(self) -> None:
        """Fetched = inserted + updated + unchanged + quarantined, or the run is failed."""
        landed = self.inserted + self.updated + self.unchanged + self.quarantined
        if self.fetched != landed:
            self.accounting_failed(
                f"fetched {self.fetched} records, but inserted {self.inserted} + updated "
                f"{self.updated} + unchanged {self.unchanged} + quarantined "
                f"{self.quarantined} = {landed}"
            )


@dataclass(slots=True)
class RunSummary:
    """What one run did: its id, when it ran, and each endpoint's :class:`EndpointStats`."""

    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    endpoints: list[EndpointStats] = field(default_factory=list)

    @property
    def failed(self) -> list[EndpointStats]:
        """The endpoints that did not fully succeed (failed or partial)."""
        return [e for e in self.endpoints if e.status != "success"]

    @property
    def ok(self) -> bool:
        """Whether every endpoint succeeded."""
        return not self.failed

    def total(self, name: str) -> int:
        """The sum of one count (``fetched``, ``inserted``, …) over the endpoints."""
        return sum(int(getattr(e, name)) for e in self.endpoints)


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """Reported after planning and after each page is written (for progress bars)."""

    source: str
    endpoint: str
    requests_done: int
    requests_total: int
    records: int


ProgressCallback = Callable[[ProgressEvent], None]
