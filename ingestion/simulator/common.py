"""Pieces shared by the per-source handlers: requests, replies, candle row caches."""

from __future__ import annotations

import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import numpy as np

from ingestion.simulator import market
from ingestion.simulator.universe import SimAsset as Asset

if TYPE_CHECKING:
    from ingestion.simulator.state import SimulatorState

Key = tuple[Any, ...]
Records = list[tuple[Key, Any]]


def compact(obj: Any) -> bytes:
    """``obj`` as JSON without spaces, the way most of the simulated APIs answer."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def spaced(obj: Any) -> bytes:
    """``obj`` as JSON with Python's default spacing, for the APIs that answer that way."""
    return json.dumps(obj, ensure_ascii=False).encode()


@dataclass(slots=True)
class SimRequest:
    """What a handler needs: the parsed request and the simulator state."""

    source: str
    path: str
    query: Mapping[str, str]
    match: dict[str, str]
    headers: Mapping[str, str]
    state: SimulatorState
    now_s: int

    @property
    def seed(self) -> int:
        """The simulator's seed: the same seed serves the same market."""
        return self.state.config.seed

    def now(self) -> datetime:
        """The simulated time of this request, as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now_s, UTC)


@dataclass(slots=True)
class Reply:
    """A response before faults are applied and before it reaches aiohttp."""

    status: int
    body: bytes
    endpoint: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    # Record the (unaltered) records in the ground truth; None for error replies.
    record: Callable[[], None] | None = None
    # Records of a parsed (possibly altered) body, for body faults; and how to re-encode it.
    extract: Callable[[Any], Records] | None = None
    dumps: Callable[[Any], bytes] = compact


def retry_after_value(seconds: int, as_date: bool = False) -> str:
    """A ``Retry-After`` value: delta-seconds, or the HTTP date that many seconds ahead."""
    if not as_date:
        return str(seconds)
    return formatdate(time.time() + seconds, usegmt=True)


def error(status: int, obj: Any, dumps: Callable[[Any], bytes] = compact) -> Reply:
    """An error reply: ``status`` with ``obj`` encoded by ``dumps``."""
    return Reply(status=status, body=dumps(obj), dumps=dumps)


def snapshot(
    req: SimRequest, endpoint: str, body: Any, extract: Any, dumps: Any = compact
) -> Reply:
    """A 200 reply for a snapshot body; its records go to the ground truth when served."""

    def record() -> None:
        for key, rec in extract(body):
            req.state.truth.put(req.source, endpoint, key, rec)

    return Reply(200, dumps(body), endpoint, record=record, extract=extract, dumps=dumps)


Handler = Callable[[SimRequest], Reply]
Route = tuple[re.Pattern[str], Handler]


@dataclass(frozen=True, slots=True)
class SimSource:
    """One simulated API: its URL prefix on the simulator and its routes.

    ``routes`` pairs a path regex (relative to the source's base URL) with its handler;
    ``weight`` gives a request's rate-limit weight where the API counts weights (Binance),
    ``usage_headers`` the headers that report it. The error fields give the API's own
    error replies; the server falls back to plain JSON errors where they are None.
    """

    name: str
    prefix: str
    routes: tuple[Route, ...]
    weight: Callable[[str, Mapping[str, str]], int] | None = None
    # How the API answers when things go wrong; None: a plain JSON error (see server.py).
    rate_limited: Callable[[str], Reply] | None = None  # given the Retry-After value
    banned: Callable[[int, str], Reply] | None = None  # seconds and Retry-After value
    ban_after: int | None = None  # over-limit answers before a ban (Binance: 3)
    server_error: Callable[[int], Reply] | None = None  # given the status
    api_error: Callable[[int], Reply] | None = None  # None: a server error
    not_found: Callable[[], Reply] | None = None
    usage_headers: Callable[[int], dict[str, str]] | None = None  # given the weight used


def parse_int(value: str | None) -> int | None:
    """A query parameter as an int; None when missing or empty.

    Raises:
        ValueError: the text is not an integer (handlers answer it with the API's own 400).
    """
    if value is None or value == "":
        return None
    return int(value)


# ---------------------------------------------------------------------- candle row caches

RowRenderer = Callable[[market.CandleArrays, str, int, int], list[Any]]
BLOCK = 1000
_CACHE_MAX = 2048
_row_cache: OrderedDict[Key, list[Any]] = OrderedDict()


def cached_rows(
    seed: int,
    fmt: str,
    renderer: RowRenderer,
    exchange: str,
    asset: Asset,
    interval_s: int,
    i0: int,
    i1: int,
    quiet: float = 0.0,
) -> list[Any]:
    """Rendered rows of the closed candles [i0, i1), from a block cache of 1000 candles.

    With ``quiet`` (minutes without a trade, see ``market.minute_candles``) a candle that
    had no trade is None: the caller leaves it out.
    """
    out: list[Any] = []
    if i1 <= i0:
        return out
    for block in range(i0 // BLOCK, (i1 - 1) // BLOCK + 1):
        key = (seed, fmt, asset.asset_id, interval_s, block, quiet)
        rows = _row_cache.get(key)
        if rows is None:
            b0 = block * BLOCK
            b1 = min(b0 + BLOCK, market.N_HOURS * market.HOUR // interval_s - 1)
            arrays = market.closed_candles(
                seed, exchange, asset.asset_id, interval_s, b0, b1, quiet
            )
            rows = render_traded(renderer, arrays, asset.asset_id, interval_s, quiet)
            _row_cache[key] = rows
            if len(_row_cache) > _CACHE_MAX:
                _row_cache.popitem(last=False)
        else:
            _row_cache.move_to_end(key)
        start = max(i0 - block * BLOCK, 0)
        stop = min(i1 - block * BLOCK, BLOCK)
        out.extend(rows[start:stop])
    return out


def render_traded(
    renderer: RowRenderer,
    arrays: market.CandleArrays,
    asset_id: str,
    interval_s: int,
    quiet: float,
) -> list[Any]:
    """``renderer``'s rows of ``arrays``; with ``quiet``, None for a candle without a trade."""
    rows = renderer(arrays, asset_id, interval_s, 0)
    if quiet > 0.0:
        did = market.traded(arrays)
        if not did.all():
            rows = [row if ok else None for row, ok in zip(rows, did.tolist(), strict=True)]
    return rows


def rounded(values: np.ndarray, decimals: int) -> list[float]:
    """``values`` rounded to ``decimals``, as a list of Python floats."""
    result: list[float] = np.round(values, decimals).tolist()
    return result


@dataclass(frozen=True, slots=True)
class Window:
    """Which candles a request gets: closed indices [i0, i1) and maybe the open one."""

    i0: int
    i1: int
    open_index: int | None  # index of the still-open candle, if it is included


def candle_index(t_s: int, interval_s: int) -> int:
    """Index of the candle containing epoch second ``t_s``."""
    return (t_s - market.EPOCH0_S) // interval_s


def first_index_at_or_after(t_s: int, interval_s: int) -> int:
    """Index of the first candle of ``interval_s`` seconds opening at or after ``t_s``."""
    return math.ceil((t_s - market.EPOCH0_S) / interval_s)


def history_bounds(req: SimRequest, interval_s: int) -> tuple[int, int, bool]:
    """(first listed index, index of the open candle, whether it has started trading)."""
    first = first_index_at_or_after(int(req.state.config.history_start.timestamp()), interval_s)
    open_i = candle_index(req.now_s, interval_s)
    has_open = (req.now_s - market.EPOCH0_S) % interval_s != 0
    return first, open_i, has_open


def select_window(
    req: SimRequest,
    interval_s: int,
    lo: int | None,
    hi: int | None,
    limit: int,
    newest: bool,
) -> Window:
    """Candles with index in [lo, hi] (inclusive, None = unbounded), at most ``limit``.

    ``newest`` picks the newest ``limit`` when the range holds more, else the oldest.
    Candles before history_start or after now are never served.
    """
    first, open_i, has_open = history_bounds(req, interval_s)
    last_index = open_i if has_open else open_i - 1  # newest servable index
    a = first if lo is None else max(lo, first)
    b = last_index if hi is None else min(hi, last_index)
    if b < a or limit <= 0:
        return Window(a, a, None)
    if b - a + 1 > limit:
        if newest:
            a = b - limit + 1
        else:
            b = a + limit - 1
    if has_open and b == open_i:
        return Window(a, b, open_i)
    return Window(a, b + 1, None)


def partial_arrays(req: SimRequest, exchange: str, asset: Asset, interval_s: int) -> Any:
    """The still-open candle of ``asset`` on ``exchange`` at the request's time."""
    return market.open_candle(req.seed, exchange, asset.asset_id, interval_s, req.now_s)


def iso_ms(t: datetime) -> str:
    """``t`` in ISO 8601 with milliseconds and a ``Z`` (``2024-01-02T03:04:05.678Z``)."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
