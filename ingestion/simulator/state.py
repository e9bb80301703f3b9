"""Run-time state of a simulator: clock, fault plan, request log, rate limits, ground truth."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ingestion.simulator.common import Key, Records
from ingestion.simulator.config import FaultPlan, SimulatorConfig

# (i0, i1) -> records of closed candles [i0, i1), regenerated on demand.
Regen = Callable[[int, int], Records]


@dataclass(slots=True)
class _Series:
    regen: Regen
    index_of: Callable[[Key], int]
    ranges: list[list[int]]  # merged, sorted [start, stop) index ranges served closed
    overrides: dict[Key, Any]  # open candles and altered records, by key


class GroundTruth:
    """Every record served so far, by endpoint and natural key (the last served wins).

    Snapshot endpoints store records as served. Candle endpoints store only which index
    ranges of closed candles were served (closed candles never change, so they are
    regenerated on demand) plus the still-open or altered rows as served; serving a
    closed range replaces earlier open versions of the same candles.
    """

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], dict[Key, Any]] = defaultdict(dict)
        self._series: dict[tuple[str, str], dict[Key, _Series]] = defaultdict(dict)

    def put(self, source: str, endpoint: str, key: Key, record: Any) -> None:
        """Record one served record under its natural key (the last served wins)."""
        series = self._series.get((source, endpoint), {}).get(key[:-1])
        if series is not None:
            series.overrides[key] = record
        else:
            self._records[(source, endpoint)][key] = record

    def series(
        self,
        source: str,
        endpoint: str,
        series_id: Key,
        regen: Regen,
        index_of: Callable[[Key], int],
    ) -> _Series:
        """The candle series ``series_id`` of an endpoint, registered on first use.

        ``regen`` rebuilds the records of an index range of closed candles; ``index_of`` gives a
        record key's candle index.
        """
        found = self._series[(source, endpoint)].get(series_id)
        if found is None:
            found = _Series(regen, index_of, [], {})
            self._series[(source, endpoint)][series_id] = found
        return found

    def add_closed(self, series: _Series, i0: int, i1: int) -> None:
        """Note that closed candles ``i0`` .. ``i1 - 1`` of ``series`` were served.

        Earlier open or altered versions of those candles are dropped.
        """
        if i1 <= i0:
            return
        if series.overrides:
            for key in [k for k in series.overrides if i0 <= series.index_of(k) < i1]:
                del series.overrides[key]
        merged: list[list[int]] = []
        for start, stop in sorted([*series.ranges, [i0, i1]]):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], stop)
            else:
                merged.append([start, stop])
        series.ranges = merged

    def records(self, source: str, endpoint: str) -> dict[Key, Any]:
        """Every record of ``source``'s ``endpoint`` served so far, by natural key."""
        out = dict(self._records.get((source, endpoint), {}))
        for series in self._series.get((source, endpoint), {}).values():
            for start, stop in series.ranges:
                out.update(series.regen(start, stop))
            out.update(series.overrides)
        return out

    def endpoints(self) -> list[tuple[str, str]]:
        """The (source, endpoint) pairs that served anything, sorted."""
        return sorted(set(self._records) | set(self._series))


class RateLimiter:
    """Fixed one-minute windows of request weight per source (wall clock)."""

    def __init__(self) -> None:
        self._window: dict[str, tuple[int, int]] = {}
        self.over_limit_hits: dict[str, int] = defaultdict(int)

    def add(self, source: str, weight: int) -> int:
        """Count ``weight`` against ``source``'s current minute; return the weight used in it."""
        minute = int(time.time() // 60)
        current_minute, used = self._window.get(source, (minute, 0))
        if current_minute != minute:
            used = 0
            self.over_limit_hits[source] = 0
        used += weight
        self._window[source] = (minute, used)
        return used

    def seconds_to_reset(self) -> int:
        """Seconds until the current one-minute window ends."""
        return 60 - int(time.time()) % 60


class SimulatorState:
    """Shared by every handler of one app; reachable as ``sim.state`` and via /_admin."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._now = config.now
        self.faults = config.faults
        self.request_counts: dict[str, int] = defaultdict(int)
        self.requests: deque[dict[str, Any]] = deque(maxlen=config.record_requests)
        self.truth = GroundTruth()
        self.limiter = RateLimiter()
        self._seq = 0
        # (exchange, pair) -> a status set while running (e.g. ("binance", "AVAXUSDT"):
        # "BREAK"): the listings show it and the pair's market data stops (universe.py).
        self.pair_status: dict[tuple[str, str], str] = {}
        # what ``cache_replies`` keeps: (request, simulated time, pair statuses) -> reply
        self.replies: dict[tuple[Any, ...], Any] = {}

    # clock
    def now(self) -> datetime:
        """The simulated time: the clock set with :meth:`set_now`, else the wall clock (UTC)."""
        return self._now if self._now is not None else datetime.now(UTC)

    def set_now(self, now: datetime | None) -> None:
        """Freeze the simulated clock at ``now`` (naive means UTC); None follows the wall clock."""
        if now is not None and now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        self._now = now

    # faults
    def set_faults(self, plan: FaultPlan) -> None:
        """Inject the faults of ``plan`` from now on, counting requests afresh."""
        self.faults = plan
        self.request_counts.clear()

    def next_request_number(self, source: str) -> int:
        """The 0-based number of this request among ``source``'s (faults pick by it)."""
        n = self.request_counts[source]
        self.request_counts[source] = n + 1
        return n

    # request log
    def log_request(self, entry: dict[str, Any]) -> None:
        """Append ``entry`` to the request log, numbered in arrival order (``seq``)."""
        self._seq += 1
        entry["seq"] = self._seq
        self.requests.append(entry)

    def request_log(self, source: str | None = None) -> list[dict[str, Any]]:
        """The logged requests, oldest first, of ``source`` when given."""
        return [r for r in self.requests if source is None or r["source"] == source]

    # ground truth
    def ground_truth(self, source: str, endpoint: str) -> dict[Key, Any]:
        """Records served so far for ``endpoint`` (e.g. "/api/v3/klines") by natural key."""
        return self.truth.records(source, endpoint)
