"""Frankfurter (ECB FX): ``/latest`` and dated or time-series ``/{date}``, ``/{start}..{end}``."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from ingestion.simulator import market
from ingestion.simulator.common import Records, Reply, SimRequest, SimSource, error, snapshot


def _fx_params(req: SimRequest) -> tuple[str, list[str], float] | Reply:
    base = (req.query.get("from") or req.query.get("base") or "EUR").upper()
    to_text = req.query.get("to") or req.query.get("symbols") or ""
    quotes = [q.upper() for q in to_text.split(",") if q] or [
        c for c in market.FX_CURRENCIES if c != base
    ]
    if base not in market.FX_ANCHOR_PER_EUR or any(
        q not in market.FX_ANCHOR_PER_EUR for q in quotes
    ):
        return error(404, {"message": "not found"})
    try:
        amount = float(req.query.get("amount", "1"))
    except ValueError:
        return error(422, {"message": "invalid amount"})
    return base, sorted(q for q in quotes if q != base), amount


def _latest_fixing(req: SimRequest) -> date:
    """The newest ECB fixing at now: published at 16:00 Frankfurt time (CET or CEST)."""
    return market.latest_fixing(req.now())


def _rates(
    req: SimRequest, day: date, base: str, quotes: list[str], amount: float
) -> dict[str, float]:
    return {q: market.round_sig(amount * market.fx_rate(req.seed, day, base, q), 5) for q in quotes}


def fx_latest(req: SimRequest) -> Reply:
    """``GET /latest``: the newest ECB fixing available at the simulated time."""
    params = _fx_params(req)
    if isinstance(params, Reply):
        return params
    base, quotes, amount = params
    day = _latest_fixing(req)
    return _fx_single(req, "/latest", day, base, quotes, amount)


def _fx_single(
    req: SimRequest, endpoint: str, day: date, base: str, quotes: list[str], amount: float
) -> Reply:
    body = {
        "amount": amount,
        "base": base,
        "date": day.isoformat(),
        "rates": _rates(req, day, base, quotes, amount),
    }

    def extract(obj: Any) -> Records:
        return [((obj.get("base"), obj.get("date")), obj.get("rates"))]

    return snapshot(req, endpoint, body, extract)


def fx_dated(req: SimRequest) -> Reply:
    """``GET /{date}`` or ``/{start}..{end}``: one day's fixing, or a time series."""
    params = _fx_params(req)
    if isinstance(params, Reply):
        return params
    base, quotes, amount = params
    spec = req.match["spec"]
    latest = _latest_fixing(req)
    try:
        if ".." in spec:
            start_text, _, end_text = spec.partition("..")
            start = date.fromisoformat(start_text)
            end = date.fromisoformat(end_text) if end_text else latest
        else:
            day = date.fromisoformat(spec)
            if day < market.EPOCH0.date():
                return error(404, {"message": "not found"})
            return _fx_single(
                req, "/{date}", market.last_business_day(min(day, latest)), base, quotes, amount
            )
    except ValueError:
        return error(404, {"message": "not found"})
    end = min(end, latest)
    # Frankfurter starts a series at the newest fixing on or before the start date.
    first = market.last_business_day(start)
    if end < first or first < market.EPOCH0.date():
        return error(404, {"message": "not found"})
    rates: dict[str, dict[str, float]] = {}
    day = first
    while day <= end:
        if market.is_ecb_business_day(day):
            rates[day.isoformat()] = _rates(req, day, base, quotes, amount)
        day += timedelta(days=1)
    body = {
        "amount": amount,
        "base": base,
        "start_date": first.isoformat(),
        "end_date": max(rates) if rates else end.isoformat(),
        "rates": rates,
    }

    def extract(obj: Any) -> Records:
        b = obj.get("base")
        return [((b, d), r) for d, r in (obj.get("rates") or {}).items()]

    return snapshot(req, "/{start}..{end}", body, extract)


SOURCE = SimSource(
    name="fx",
    prefix="/fx/v1",
    routes=(
        (re.compile(r"/latest/?"), fx_latest),
        (re.compile(r"/(?P<spec>\d{4}-\d{2}-\d{2}(\.\.(\d{4}-\d{2}-\d{2})?)?)/?"), fx_dated),
    ),
)
