"""Candle row formats of each exchange and the generic "serve a candle window" logic."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ingestion.simulator import market
from ingestion.simulator.common import (
    Key,
    Records,
    SimRequest,
    Window,
    cached_rows,
)
from ingestion.simulator.config import PriceDivergence, divergence_factors
from ingestion.simulator.universe import SimAsset as Asset


@dataclass(frozen=True, slots=True)
class CandleFormat:
    """How one exchange renders candles in its API's own shape.

    Attributes:
        exchange: the exchange's source name.
        renderer: turns candle arrays (with the pair's symbol, price decimals and interval in
            seconds) into that API's rows.
    """

    exchange: str
    renderer: Callable[[market.CandleArrays, str, int, int], list[Any]]


def _diverge(
    divergences: tuple[PriceDivergence, ...],
    exchange: str,
    asset_id: str,
    arrays: market.CandleArrays,
) -> market.CandleArrays:
    factors = divergence_factors(divergences, exchange, asset_id, arrays.open_time)
    if factors is None:
        return arrays
    return replace(
        arrays,
        open=arrays.open * factors,
        high=arrays.high * factors,
        low=arrays.low * factors,
        close=arrays.close * factors,
    )


def closed_rows(
    seed: int,
    divergences: tuple[PriceDivergence, ...],
    fmt: CandleFormat,
    asset: Asset,
    interval_s: int,
    i0: int,
    i1: int,
) -> list[Any]:
    """Rendered closed candles [i0, i1), with the configured price divergences applied."""
    rows = cached_rows(seed, fmt.exchange, fmt.renderer, fmt.exchange, asset, interval_s, i0, i1)
    for divergence in divergences:
        if not divergence.applies(fmt.exchange, asset.asset_id):
            continue
        a = max(i0, math.ceil((divergence.start.timestamp() - market.EPOCH0_S) / interval_s))
        b = min(i1, math.ceil((divergence.end.timestamp() - market.EPOCH0_S) / interval_s))
        if a >= b:
            continue
        arrays = market.closed_candles(seed, fmt.exchange, asset.asset_id, interval_s, a, b)
        diverged = _diverge(divergences, fmt.exchange, asset.asset_id, arrays)
        rows[a - i0 : b - i0] = fmt.renderer(diverged, asset.asset_id, interval_s, 0)
    return rows


def window_rows(
    req: SimRequest, fmt: CandleFormat, asset: Asset, interval_s: int, window: Window
) -> tuple[list[Any], Any]:
    """Rows of a window, oldest first, and the open row (also the last row) or None."""
    divergences = req.state.config.divergences
    rows = closed_rows(req.seed, divergences, fmt, asset, interval_s, window.i0, window.i1)
    open_row = None
    if window.open_index is not None:
        arrays = market.open_candle(req.seed, fmt.exchange, asset.asset_id, interval_s, req.now_s)
        if arrays is not None:
            arrays = _diverge(divergences, fmt.exchange, asset.asset_id, arrays)
            open_row = fmt.renderer(arrays, asset.asset_id, interval_s, 0)[0]
            rows.append(open_row)
    return rows, open_row


def record_window(
    req: SimRequest,
    endpoint: str,
    fmt: CandleFormat,
    asset: Asset,
    interval_s: int,
    window: Window,
    series_id: Key,
    open_row: Any,
    to_records: Callable[[list[Any]], Records],
    index_of: Callable[[Key], int],
) -> Callable[[], None]:
    """A callback that records a served window in the ground truth."""
    state = req.state
    seed = req.seed

    def regen(i0: int, i1: int) -> Records:
        rows = closed_rows(seed, state.config.divergences, fmt, asset, interval_s, i0, i1)
        return to_records(rows)

    def record() -> None:
        truth = state.truth
        series = truth.series(req.source, endpoint, series_id, regen, index_of)
        truth.add_closed(series, window.i0, window.i1)
        if open_row is not None:
            for key, rec in to_records([open_row]):
                series.overrides[key] = rec

    return record


def json_rows(rows: list[bytes]) -> list[Any]:
    """Parse rows rendered as JSON bytes back into values (to record what was served)."""
    parsed: list[Any] = json.loads(b"[" + b",".join(rows) + b"]")
    return parsed
