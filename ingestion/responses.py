"""What one request gives back: a JSON response, a body that is not JSON, the counters.

The HTTP client (:mod:`ingestion.http`) makes these; the lake sink stores them and the run
pipeline parses them. Plain data, so the sinks need not import the client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP response with a JSON body."""

    source: str
    endpoint: str
    path: str
    params: dict[str, str]
    status: int
    headers: dict[str, str]
    text: str  # the body decoded as UTF-8 (bytes that are not UTF-8 replaced)
    data: Any  # the parsed JSON
    fetched_at: datetime
    raw: bytes | None = None  # the body exactly as received (what the lake hashes and keeps)


@dataclass(frozen=True, slots=True)
class InvalidBody:
    """A 200 whose body is not JSON (HTML page, truncated): handed to ``on_invalid_body``."""

    source: str
    endpoint: str
    path: str
    params: dict[str, str]
    status: int
    headers: dict[str, str]
    text: str
    reason: str
    fetched_at: datetime
    raw: bytes | None = None  # the body exactly as received


InvalidBodyHandler = Callable[[InvalidBody], Awaitable[None]]
# A JSON body that ``get_json`` will not return (HTTP 4xx/5xx, 429, Kraken's error in a 200):
# handed over before the request is retried or fails, so the lake keeps it too.
ErrorBodyHandler = Callable[["Response"], Awaitable[None]]


@dataclass(slots=True)
class RequestCounters:
    """Requests and retries of one endpoint in a run."""

    requests: int = 0
    retries: int = 0


def describe_request(path: str, params: Mapping[str, str]) -> str:
    """``path?k=v&…`` for messages and logs (params never hold a key)."""
    if not params:
        return path
    return path + "?" + "&".join(f"{k}={v}" for k, v in params.items())
