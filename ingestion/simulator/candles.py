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
    render_traded,
)
from ingestion.simulator.config import PriceDivergence, SimulatorConfig, divergence_factors
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

    def quiet(self, config: SimulatorConfig, asset_id: str) -> float:
        """The chance an average minute of ``asset_id`` has no trade, so no candle (0: never).

        Only an exchange that omits such candles has any (``ExchangeModel.omits_no_trade``,
        Coinbase); how many is ``SimulatorConfig.coinbase_no_trade_rate``.
        """
        return market.quiet_chance(self.exchange, asset_id, config.coinbase_no_trade_rate)


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


def _base_interval(interval_s: int) -> int:
    """The candles an exchange rolls ``interval_s`` up from: minutes below an hour, else hours."""
    if interval_s in (market.MINUTE, market.HOUR):
        return interval_s
    return market.MINUTE if interval_s < market.HOUR else market.HOUR


def _diverged_closed(
    seed: int,
    divergences: tuple[PriceDivergence, ...],
    exchange: str,
    asset_id: str,
    interval_s: int,
    i0: int,
    i1: int,
    quiet: float = 0.0,
) -> market.CandleArrays:
    """Closed candles [i0, i1) of a source whose prices diverge.

    A divergence hits the minute and hour candles whose open time lies in its window; the
    coarser candles are rolled up from those, so a day's high on an exchange that was dear
    for five hours is that dear high, as an exchange's own daily candle would be.
    ``quiet``: minutes without a trade, as in ``market.closed_candles``.
    """
    base = _base_interval(interval_s)
    if base == interval_s:
        arrays = market.closed_candles(seed, exchange, asset_id, interval_s, i0, i1, quiet)
        return _diverge(divergences, exchange, asset_id, arrays)
    k = interval_s // base
    fine = market.closed_candles(seed, exchange, asset_id, base, i0 * k, i1 * k, quiet)
    diverged = _diverge(divergences, exchange, asset_id, fine)
    return market.aggregate(diverged, i1 - i0, k, traded_only=quiet > 0.0)


def _diverged_open(
    seed: int,
    divergences: tuple[PriceDivergence, ...],
    exchange: str,
    asset_id: str,
    interval_s: int,
    now_s: int,
    quiet: float = 0.0,
) -> market.CandleArrays | None:
    """The open candle at ``now_s`` with the divergences applied as in ``_diverged_closed``."""
    if not any(d.applies(exchange, asset_id) for d in divergences):
        return market.open_candle(seed, exchange, asset_id, interval_s, now_s, quiet)
    base = _base_interval(interval_s)
    if base == interval_s:
        arrays = market.open_candle(seed, exchange, asset_id, interval_s, now_s, quiet)
        return None if arrays is None else _diverge(divergences, exchange, asset_id, arrays)
    rel = now_s - market.EPOCH0_S
    start_i, elapsed = divmod(rel, interval_s)
    if elapsed == 0:
        return None
    first, current = start_i * (interval_s // base), rel // base
    parts: list[market.CandleArrays] = []
    if current > first:
        closed = market.closed_candles(seed, exchange, asset_id, base, first, current, quiet)
        parts.append(_diverge(divergences, exchange, asset_id, closed))
    partial = market.open_candle(seed, exchange, asset_id, base, now_s, quiet)
    if partial is not None:
        parts.append(_diverge(divergences, exchange, asset_id, partial))
    candles = market.concat(parts) if len(parts) > 1 else parts[0]
    return market.aggregate(candles, 1, len(candles), traded_only=quiet > 0.0)


def closed_rows(
    seed: int,
    divergences: tuple[PriceDivergence, ...],
    fmt: CandleFormat,
    asset: Asset,
    interval_s: int,
    i0: int,
    i1: int,
    quiet: float = 0.0,
) -> list[Any]:
    """Rendered closed candles [i0, i1), with the configured price divergences applied.

    With ``quiet`` (see :meth:`CandleFormat.quiet`) the candles without a trade are left
    out, so a page can hold fewer rows than its window has intervals.
    """
    rows = cached_rows(
        seed, fmt.exchange, fmt.renderer, fmt.exchange, asset, interval_s, i0, i1, quiet
    )
    for divergence in divergences:
        if not divergence.applies(fmt.exchange, asset.asset_id):
            continue
        # every candle that overlaps the window
        a = max(i0, (int(divergence.start.timestamp()) - market.EPOCH0_S) // interval_s)
        b = min(i1, math.ceil((divergence.end.timestamp() - market.EPOCH0_S) / interval_s))
        if a >= b:
            continue
        diverged = _diverged_closed(
            seed, divergences, fmt.exchange, asset.asset_id, interval_s, a, b, quiet
        )
        rows[a - i0 : b - i0] = render_traded(
            fmt.renderer, diverged, asset.asset_id, interval_s, quiet
        )
    if quiet > 0.0:
        rows = [row for row in rows if row is not None]
    return rows


def window_rows(
    req: SimRequest, fmt: CandleFormat, asset: Asset, interval_s: int, window: Window
) -> tuple[list[Any], Any]:
    """Rows of a window, oldest first, and the open row (also the last row) or None."""
    config = req.state.config
    divergences, quiet = config.divergences, fmt.quiet(config, asset.asset_id)
    rows = closed_rows(req.seed, divergences, fmt, asset, interval_s, window.i0, window.i1, quiet)
    open_row = None
    if window.open_index is not None:
        arrays = _diverged_open(
            req.seed, divergences, fmt.exchange, asset.asset_id, interval_s, req.now_s, quiet
        )
        if arrays is not None:
            open_row = render_traded(fmt.renderer, arrays, asset.asset_id, interval_s, quiet)[0]
            if open_row is not None:  # None: no trade in it yet
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
    quiet = fmt.quiet(state.config, asset.asset_id)

    def regen(i0: int, i1: int) -> Records:
        rows = closed_rows(seed, state.config.divergences, fmt, asset, interval_s, i0, i1, quiet)
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
