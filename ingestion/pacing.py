"""Pacing of the requests to one host: token buckets, request-weight budgets, pauses.

What :class:`~ingestion.http.HttpClient` uses to stay under each API's limits: a token
bucket per source (its ``rate_limit``, from its connector module's description), a
concurrency semaphore and a pause (a 429's wait) per host, and, for an API that reports
the request weight it counted (Binance), a budget that slows down before it runs out; and
the server's own word on how long to wait (``Retry-After``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from ingestion.connectors.source import RequestWeight

WEIGHT_SLOWDOWN = 0.8  # start slowing down at 80% of the budget


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """``Retry-After`` in seconds from now: delta-seconds or an HTTP date (RFC 9110)."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000": UTC by the RFC
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class TokenBucket:
    """``rate_per_minute`` requests a minute, bursts of up to ``burst``."""

    def __init__(self, rate_per_minute: float, burst: float | None = None) -> None:
        self.rate = rate_per_minute / 60.0
        self.capacity = burst if burst is not None else max(1.0, min(rate_per_minute / 6, 20.0))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until a request may start (at once while the bucket holds a token)."""
        if self.rate <= 0:
            return
        async with self._lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1.0:
                wait = (1.0 - self.tokens) / self.rate
                await asyncio.sleep(wait)
                self.updated = time.monotonic()
                self.tokens = 0.0
            else:
                self.tokens -= 1.0


class WeightBudget:
    """Slows a source's requests down when the weight it reports nears the minute budget.

    Args:
        rule: The source's header and per-minute budget (Binance: ``X-MBX-USED-WEIGHT-1M``).
    """

    def __init__(self, rule: RequestWeight) -> None:
        self.header = rule.header
        self.budget = rule.budget
        self.read_published = rule.read_published
        self.published = False  # whether the budget is the API's own published figure
        self.used = 0
        self.seen_at = 0.0

    def learn(self, path: str, body: Any) -> int | None:
        """Take the budget a response of ``path`` publishes in ``body``, if any.

        Binance's ``exchangeInfo`` publishes one; the budget, or None.
        """
        if self.read_published is None:
            return None
        budget = self.read_published(path, body)
        if budget is not None:
            self.budget, self.published = budget, True
        return budget

    def observe(self, headers: Mapping[str, str]) -> None:
        """Note the weight a response reports as used in the current minute."""
        value = headers.get(self.header) or headers.get(self.header.lower())
        if value and value.isdigit():
            self.used = int(value)
            self.seen_at = time.time()

    def delay(self) -> float:
        """Seconds to wait before the next request (0 while under the slow-down mark)."""
        if self.used < self.budget * WEIGHT_SLOWDOWN:
            return 0.0
        if time.time() // 60 != self.seen_at // 60:
            return 0.0  # a new minute window has begun
        to_next_minute = 60.0 - (time.time() % 60.0)
        if self.used >= self.budget:
            return to_next_minute
        # Between the mark and the budget: spread what is left over the rest of the minute.
        left = max(self.budget - self.used, 1)
        return min(to_next_minute, to_next_minute / left * 10)


@dataclass(slots=True)
class Host:
    """One host of one source: its concurrency slots, its token bucket, its pause."""

    name: str
    semaphore: asyncio.Semaphore
    bucket: TokenBucket
    paused_until: float = 0.0  # time.monotonic(): no request starts before (a 429's wait)
    pause_cause: str = ""

    def pause(self, seconds: float, cause: str) -> None:
        """No request to the host starts for ``seconds`` (a longer pause wins)."""
        until = time.monotonic() + seconds
        if until > self.paused_until:
            self.paused_until, self.pause_cause = until, cause
