"""The one HTTP client of a run: aiohttp, per-host limits, timeouts and retries.

``HttpClient.get_json`` is the only way connectors talk to an API. One ``_request`` does
all I/O under ``asyncio.timeout``; everything around it decides whether to try again:

* transient failures are retried (connection errors, timeouts, 5xx, 429, Kraken's
  ``EAPI:Rate limit exceeded`` inside an HTTP 200, bodies that are not JSON) with
  exponential backoff and full jitter, at most ``http_max_retries`` times;
* a 429 pauses the whole host (every slot of its semaphore), not only the request that got
  it; ``Retry-After`` (seconds or an HTTP date) wins over the backoff, never less than
  ``http_retry_after_min_seconds`` and with jitter, so the paused requests do not all come
  back in the same instant. A wait longer than ``http_retry_after_max_seconds`` is not
  sat out: the request fails, and so do the host's other requests until the time is up;
* HTTP 418 (Binance's IP ban) is never retried: the source is banned for the rest of the
  run, every later request to it fails at once with :class:`BannedError`;
* anything else (400, 404, 451, API errors) fails at once with a :class:`RequestError` that
  names source, endpoint, request and cause.

Per-host concurrency is a semaphore; per-source request rates are token buckets; Binance's
``X-MBX-USED-WEIGHT-1M`` header slows requests down before the minute budget runs out.
No key and no URL that carries one is ever logged: requests are described by path and
params, and the CoinGecko key travels in a header.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
import yarl

from ingestion.clock import clock_for
from ingestion.connectors.registry import DESCRIPTIONS, describe
from ingestion.errors import (
    BannedError,
    BodyTooLargeError,
    IngestionError,
    RegionBlockedError,
    RequestError,
)
from ingestion.pacing import Host, TokenBucket, WeightBudget, retry_after_seconds
from ingestion.responses import (
    ErrorBodyHandler,
    InvalidBody,
    InvalidBodyHandler,
    RequestCounters,
    Response,
    describe_request,
)
from ingestion.settings import Settings

logger = logging.getLogger(__name__)

SESSION_HEADERS = {"User-Agent": "criptopipe/0.1", "Accept": "application/json"}

CONCURRENCY_PER_HOST = 8
RETRY_AFTER_JITTER = 0.1  # up to +10 % on a server-given wait, so waiters spread out
MAX_REDIRECTS = 10  # aiohttp's own default
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
KEPT_HEADERS = (
    "content-type",
    "date",
    "etag",
    "last-modified",
    "retry-after",
    "cf-cache-status",
    "age",
    # and what each source's description adds (Binance's request-weight headers)
    *(h.lower() for source in DESCRIPTIONS.values() for h in source.kept_headers),
)


__all__ = [  # what a request gives back lives in ingestion.responses; re-exported here
    "ErrorBodyHandler",
    "HttpClient",
    "InvalidBody",
    "InvalidBodyHandler",
    "RequestCounters",
    "Response",
    "describe_request",
    "is_error_body",
    "retry_after_seconds",
]


# --------------------------------------------------------------------------- exceptions
class _TransientError(IngestionError):
    """Internal: a failure worth another attempt, with the server's wait if it gave one."""

    def __init__(
        self, cause: str, retry_after: float | None = None, *, pauses_host: bool = False
    ) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retry_after = retry_after
        self.pauses_host = pauses_host  # a rate limit: every request to the host waits


# A run of 20 digits or more: an integer orjson would read as a float (past 64 bits).
# Found by mapping every digit to "0" and everything else to " " (one C pass) and looking
# for 20 zeros: about ten times faster than a regular expression over the whole body.
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_LONG_NUMBER = b"0" * 20


def has_long_number(raw: bytes) -> bool:
    """Whether ``raw`` holds a run of 20 digits or more (a number orjson reads inexactly)."""
    return _LONG_NUMBER in raw.translate(_DIGITS_AS_ZERO)


def decode_json(raw: bytes, text: str) -> Any:
    """The JSON value of a body: orjson where it reads it exactly, else the standard library.

    orjson is several times faster; the standard library also reads what orjson refuses (NaN,
    a number too large for a double, bytes that are not UTF-8: ``text`` has them replaced) and
    keeps integers of any size.

    Raises:
        json.JSONDecodeError: the body is not JSON.
    """
    if not has_long_number(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # the standard library decides, with its own error message
    return json.loads(text)


def _ban_cause(source: str, headers: Mapping[str, str]) -> str:
    wait = retry_after_seconds(headers)
    until = ""
    if wait is not None:
        at = datetime.now(UTC) + timedelta(seconds=wait)
        until = f" for {wait:.0f}s (until {at:%Y-%m-%d %H:%M:%S} UTC)"
    return (
        f"HTTP 418: {source} banned this IP{until}; no more {source} requests this run "
        "(not retried: every request during a ban extends it)"
    )


def is_error_body(source: str, status: int, data: Any) -> bool:
    """An API error rather than data: HTTP 4xx/5xx, or an error in a 200 body.

    A 200 body counts as an error where the source's description says errors hide there
    (Kraken's ``{"error": [...]}``).
    """
    return status >= 400 or bool(describe(source).errors_in_body(data))


# --------------------------------------------------------------------------- client
@dataclass(slots=True)
class HttpClient:
    """One aiohttp session per run; use as ``async with HttpClient(settings) as client``.

    A ``session`` passed in is used and left open; otherwise the client opens its own and
    closes it on exit. ``rate_limits`` overrides the sources' requests per minute (0: none);
    ``clock`` gives fetch times (default: the settings' clock).
    """

    settings: Settings
    session: aiohttp.ClientSession | None = None
    rate_limits: Mapping[str, float] | None = None  # requests/minute per source; 0 = none
    concurrency_per_host: int = CONCURRENCY_PER_HOST
    counters: dict[tuple[str, str], RequestCounters] = field(default_factory=dict)
    _owns_session: bool = False
    _hosts: dict[str, Host] = field(default_factory=dict)
    _weights: dict[str, WeightBudget] = field(default_factory=dict)  # sources that count
    banned: dict[str, str] = field(default_factory=dict)  # source -> why (HTTP 418)
    clock: Callable[[], datetime] | None = None  # fetch times (default: the settings' clock)

    async def __aenter__(self) -> HttpClient:
        if self.session is None:
            connector = aiohttp.TCPConnector(limit=100, ttl_dns_cache=300)
            self.session = aiohttp.ClientSession(
                connector=connector,
                headers=SESSION_HEADERS,
                auto_decompress=True,
            )
            self._owns_session = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._owns_session and self.session is not None:
            await self.session.close()
            self.session = None

    def counter(self, source: str, endpoint: str) -> RequestCounters:
        """The request counters of ``source``'s ``endpoint`` in this run, created on first use."""
        return self.counters.setdefault((source, endpoint), RequestCounters())

    def _rate(self, source: str) -> float:
        overrides = (
            self.rate_limits if self.rate_limits is not None else (self.settings.http_rate_limits)
        )
        if source in overrides:
            return float(overrides[source])
        description = describe(source)
        key = description.api_key
        if key is not None and key.rate_limit and self.settings.api_key(source) is not None:
            return key.rate_limit
        return description.rate_limit

    def _weight(self, source: str) -> WeightBudget | None:
        rule = describe(source).weight
        if rule is None:
            return None
        if source not in self._weights:
            self._weights[source] = WeightBudget(rule)
        return self._weights[source]

    def _host(self, source: str, url: str) -> Host:
        host = urlsplit(url).netloc + "|" + source
        if host not in self._hosts:
            self._hosts[host] = Host(
                urlsplit(url).netloc,
                asyncio.Semaphore(self.concurrency_per_host),
                TokenBucket(self._rate(source)),
            )
        return self._hosts[host]

    def _headers(self, source: str) -> dict[str, str]:
        rule, key = describe(source).api_key, self.settings.api_key(source)
        if rule is not None and key is not None:
            return {rule.header: key.get_secret_value()}
        return {}

    async def get_json(
        self,
        source: str,
        endpoint: str,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        on_invalid_body: InvalidBodyHandler | None = None,
        on_error_body: ErrorBodyHandler | None = None,
    ) -> Response:
        """GET ``base_url(source) + path`` and return the parsed JSON response.

        Retries transient failures; raises :class:`RequestError` when it gives up. Every
        other body received on the way is handed over first: not JSON to
        ``on_invalid_body``, JSON error bodies (4xx, 5xx, 429, Kraken errors) to
        ``on_error_body``.
        """
        params = dict(params or {})
        request = describe_request(path, params)
        counter = self.counter(source, endpoint)
        max_retries = max(0, self.settings.http_max_retries)
        host = self._host(source, self.settings.base_url(source) + path)
        last_cause = "no attempt made"
        for attempt in range(max_retries + 1):
            if attempt:
                counter.retries += 1
            counter.requests += 1
            try:
                return await self._attempt(
                    source, endpoint, path, params, on_invalid_body, on_error_body
                )
            except _TransientError as err:
                last_cause = err.cause
                delay = self._backoff(attempt, err.retry_after)
                if err.pauses_host:
                    host.pause(delay, err.cause)
                if attempt == max_retries:
                    break
                logger.warning(
                    "%s/%s: GET %s: %s; retry %d/%d in %.2fs",
                    source,
                    endpoint,
                    request,
                    err.cause,
                    attempt + 1,
                    max_retries,
                    delay,
                )
                if err.pauses_host:
                    continue  # the host's pause is the wait, for this request as for all
                await asyncio.sleep(delay)
        raise RequestError(
            source, endpoint, request, f"{last_cause} (gave up after {max_retries} retries)"
        )

    async def _wait_for_host(self, host: Host, source: str, endpoint: str, request: str) -> None:
        """Sleep while ``host`` is paused (a 429 paused it; each new 429 may extend it).

        Fail at once when its source is banned or the pause is longer than we wait.
        """
        if source in self.banned:
            raise BannedError(source, endpoint, request, self.banned[source], 418)
        longest = self.settings.http_retry_after_max_seconds
        while (left := host.paused_until - time.monotonic()) > 0:
            if left > longest * (1 + RETRY_AFTER_JITTER):
                raise RequestError(
                    source,
                    endpoint,
                    request,
                    f"{host.name} asked us to wait {left:.0f}s more ({host.pause_cause}), "
                    f"longer than CRIPTOPIPE_HTTP_RETRY_AFTER_MAX_SECONDS={longest:g}",
                )
            await asyncio.sleep(left)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:  # the server's word wins, within bounds, with jitter
            wait = max(retry_after, self.settings.http_retry_after_min_seconds)
            return wait + random.uniform(0.0, wait * RETRY_AFTER_JITTER)
        base = self.settings.http_backoff_base_seconds
        cap = self.settings.http_backoff_max_seconds
        return random.uniform(0.0, min(cap, base * 2**attempt))

    async def _attempt(
        self,
        source: str,
        endpoint: str,
        path: str,
        params: dict[str, str],
        on_invalid_body: InvalidBodyHandler | None,
        on_error_body: ErrorBodyHandler | None = None,
    ) -> Response:
        url = self.settings.base_url(source) + path
        request = describe_request(path, params)
        status, headers, raw = await self._request(source, endpoint, request, url, params)
        # Milliseconds, as BSON dates hold them: raw.* and the lake name the same instant,
        # so a replay of the lake rebuilds raw.* exactly. The time is the run's clock's.
        now = (self.clock or clock_for(self.settings))()
        fetched_at = now.replace(microsecond=now.microsecond // 1000 * 1000)
        kept = {k.lower(): v for k, v in headers.items() if k.lower() in KEPT_HEADERS}
        weight = self._weight(source)
        if weight is not None:
            weight.observe(headers)
        text = raw.decode("utf-8", errors="replace")
        data: Any = None
        not_json: str | None = None
        try:
            data = decode_json(raw, text)
        except json.JSONDecodeError as err:
            not_json = f"body is not JSON ({err.msg} at char {err.pos})"
        except (ValueError, RecursionError) as err:  # e.g. nested deeper than Python goes
            not_json = f"body is not JSON that can be read ({type(err).__name__}: {err})"
        # HTML error pages and truncated bodies are kept, never dropped.
        if not_json and text.strip() and on_invalid_body is not None:
            await on_invalid_body(
                InvalidBody(
                    source,
                    endpoint,
                    path,
                    params,
                    status,
                    kept,
                    text,
                    str(not_json),
                    fetched_at,
                    raw,
                )
            )
        response = Response(
            source, endpoint, path, params, status, kept, text, data, fetched_at, raw
        )
        if not not_json and is_error_body(source, status, data) and on_error_body is not None:
            await on_error_body(response)  # error bodies are kept too, with their status
        if status == 418:
            self.banned[source] = _ban_cause(source, headers)
            raise BannedError(source, endpoint, request, self.banned[source], status)
        if status == 429:
            wait = retry_after_seconds(headers)
            longest = self.settings.http_retry_after_max_seconds
            if wait is not None and wait > longest:
                self._host(source, url).pause(wait, f"HTTP 429, Retry-After {wait:.0f}s")
                raise RequestError(
                    source,
                    endpoint,
                    request,
                    f"HTTP 429 (rate limited) with Retry-After {wait:.0f}s, longer than "
                    f"CRIPTOPIPE_HTTP_RETRY_AFTER_MAX_SECONDS={longest:g}: not waited out",
                    status,
                )
            raise _TransientError("HTTP 429 (rate limited)", wait, pauses_host=True)
        if status == 451:
            hint = describe(source).region_hint
            raise RegionBlockedError(
                source,
                endpoint,
                request,
                f"HTTP 451: {source} refuses requests from this region; set "
                f"CRIPTOPIPE_{source.upper()}_BASE_URL to another host"
                + (f" (e.g. {hint})" if hint else ""),
                status,
            )
        if status >= 500:
            raise _TransientError(f"HTTP {status}", retry_after_seconds(headers))
        if status >= 400:
            raise RequestError(source, endpoint, request, f"HTTP {status}: {text[:300]}", status)
        if not_json:
            raise _TransientError(not_json)
        description = describe(source)
        errors = description.errors_in_body(data)
        if errors and description.body_errors is not None:
            rule = description.body_errors
            cause = f"{description.title} error {', '.join(errors)}"
            if any(e.startswith(rule.transient) for e in errors):
                raise _TransientError(
                    cause, pauses_host=any(p in errors[0] for p in rule.rate_limited)
                )
            raise RequestError(source, endpoint, request, cause, status)
        if weight is not None:
            self._learn_budget(source, weight, path, data)
        return response

    def weight_budget(self, source: str) -> int | None:
        """The per-minute request-weight budget ``source``'s requests keep under.

        None for a source that counts no weight; the API's own published figure once a
        response gave it.
        """
        weight = self._weight(source)
        return weight.budget if weight is not None else None

    def learn_weight_budget(self, source: str, path: str, body: Any) -> int | None:
        """Take the request-weight budget a stored response of ``path`` publishes.

        The newest ``exchangeInfo`` in the lake, at a run's start; the budget, or None.
        """
        weight = self._weight(source)
        return self._learn_budget(source, weight, path, body) if weight is not None else None

    def _learn_budget(self, source: str, weight: WeightBudget, path: str, body: Any) -> int | None:
        before = weight.budget
        budget = weight.learn(path, body)
        if budget is not None and budget != before:
            logger.info(
                "%s: request-weight budget %d a minute, as %s publishes (was %d)",
                source,
                budget,
                path,
                before,
            )
        return budget

    async def _read_capped(
        self, resp: aiohttp.ClientResponse, source: str, endpoint: str, request: str
    ) -> bytes:
        """The body, decompressed, refused once it grows past ``http_max_body_bytes``.

        A gzip bomb or a runaway body fails its request instead of filling memory.
        """
        cap = self.settings.http_max_body_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > cap:
                raise BodyTooLargeError(
                    source,
                    endpoint,
                    request,
                    f"HTTP {resp.status} body is over {cap} bytes once decompressed "
                    f"(CRIPTOPIPE_HTTP_MAX_BODY_BYTES); not read further",
                    resp.status,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def _request(
        self, source: str, endpoint: str, request: str, url: str, params: dict[str, str]
    ) -> tuple[int, Mapping[str, str], bytes]:
        """The only I/O: one GET under ``asyncio.timeout``; transport errors are transient."""
        assert self.session is not None, "use HttpClient as an async context manager"
        host = self._host(source, url)
        async with host.semaphore:
            await host.bucket.acquire()
            # Checked with a slot in hand: requests queued behind a 429 or 418 see it too.
            await self._wait_for_host(host, source, endpoint, request)
            weight = self._weight(source)
            wait = weight.delay() if weight is not None else 0.0
            if weight is not None and wait > 0:
                logger.info("%s: request weight %d used, waiting %.1fs", source, weight.used, wait)
                await asyncio.sleep(wait)
            try:
                async with asyncio.timeout(self.settings.http_timeout_seconds):
                    return await self._get_following_redirects(
                        url, params, self._headers(source), (source, endpoint, request)
                    )
            except TimeoutError as err:
                raise _TransientError(
                    f"timed out after {self.settings.http_timeout_seconds:g}s"
                ) from err
            except aiohttp.ClientError as err:
                raise _TransientError(f"{type(err).__name__}: {err}") from err

    async def _get_following_redirects(
        self,
        url: str,
        params: dict[str, str] | None,
        headers: dict[str, str],
        what: tuple[str, str, str],
    ) -> tuple[int, Mapping[str, str], bytes]:
        """GET, following redirects by hand, so a key header never leaves its origin.

        A key header (the CoinGecko key) is sent only to the origin it was configured for, and
        dropped for good once a redirect leaves it.
        """
        assert self.session is not None
        origin = _origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            async with self.session.get(
                url, params=params, headers=headers, allow_redirects=False
            ) as resp:
                location = resp.headers.get("Location")
                if resp.status not in REDIRECT_STATUSES or not location:
                    return resp.status, resp.headers, await self._read_capped(resp, *what)
                url, params = str(resp.url.join(yarl.URL(location))), None
                if _origin(url) != origin:
                    headers = {}
        raise _TransientError(f"more than {MAX_REDIRECTS} redirects")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port
