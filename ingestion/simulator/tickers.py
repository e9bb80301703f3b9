"""What every exchange's ticker handler shares: listed symbols, 24-hour rolling statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ingestion.simulator import market
from ingestion.simulator.common import SimRequest
from ingestion.simulator.universe import CATALOGUE
from ingestion.simulator.universe import SimAsset as Asset

HOUR = market.HOUR


def listed(req: SimRequest, exchange: str) -> dict[str, Asset]:
    """Symbol -> asset for the configured assets this exchange trades.

    Every name the simulated world gives the pair is a key (Kraken answers ``XXBTZUSD``
    to ``XBTUSD``). A pair halted while running (``state.pair_status``) is left out.
    """
    out: dict[str, Asset] = {}
    for asset in CATALOGUE:
        names = asset.names(exchange)
        if asset.asset_id not in req.state.config.assets or not names:
            continue
        if (exchange, names[0]) not in req.state.pair_status:
            out.update(dict.fromkeys(names, asset))
    return out


@dataclass(frozen=True, slots=True)
class Rolling:
    """Statistics of the last 24 hours up to now (prices unrounded)."""

    open: float
    high: float
    low: float
    last: float
    volume: float
    quote_volume: float
    trades: int
    day_open: float  # open of the current UTC day
    day_high: float
    day_low: float
    day_volume: float
    day_quote_volume: float
    day_trades: int


def rolling_24h(req: SimRequest, exchange: str, asset: Asset) -> Rolling:
    """Statistics of ``asset`` on ``exchange`` over the 24 hours up to the request's time.

    They are made of the last 24 closed hourly candles and the current hour so far.
    """
    now_rel = req.now_s - market.EPOCH0_S
    open_i, elapsed = divmod(now_rel, HOUR)
    closed = market.hourly_candles(req.seed, exchange, asset.asset_id, open_i - 24, open_i)
    if elapsed:
        part = market.partial_hour(req.seed, exchange, asset.asset_id, open_i, elapsed)
        arrays = [closed, part]
    else:
        arrays = [closed]

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(a, name) for a in arrays])

    o, h, low, c, v, tr = (cat(n) for n in ("open", "high", "low", "close", "volume", "trades"))
    vwap = np.concatenate([a.vwap for a in arrays])
    # The 24h window starts inside the oldest hour: weight it by the part inside the window.
    frac = np.ones(len(o))
    frac[0] = 1.0 - elapsed / HOUR
    vol = v * frac
    day_hours = open_i % 24 + (1 if elapsed else 0)
    d = slice(len(o) - day_hours, None) if day_hours else slice(len(o) - 1, None)
    return Rolling(
        open=float(o[0]),
        high=float(h.max()),
        low=float(low.min()),
        last=float(c[-1]),
        volume=float(vol.sum()),
        quote_volume=float((vol * vwap).sum()),
        trades=int((tr * frac).sum()),
        day_open=float(o[d][0]),
        day_high=float(h[d].max()),
        day_low=float(low[d].min()),
        day_volume=float(v[d].sum()),
        day_quote_volume=float((v[d] * vwap[d]).sum()),
        day_trades=int(tr[d].sum()),
    )


def trade_id(req: SimRequest, rate: float, asset: Asset) -> int:
    """A monotone trade id: trades since EPOCH0 at a steady synthetic ``rate`` a second.

    Each exchange's handler module has its own rate.
    """
    weight = 1.0 + len(asset.asset_id)
    return int((req.now_s - market.EPOCH0_S) * rate * weight)


def spread(price: float, dec: int) -> tuple[float, float]:
    """The best bid and ask around ``price``: the price floored to the tick, and one tick above."""
    tick = 10.0**-dec
    bid = round(math.floor(price / tick) * tick, dec)
    return bid, round(bid + tick, dec)
