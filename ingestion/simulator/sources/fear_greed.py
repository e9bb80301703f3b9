"""alternative.me Fear & Greed index: ``/fng/`` (numbers as strings, tab-indented)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ingestion.simulator import market
from ingestion.simulator.common import Records, Reply, SimRequest, SimSource, snapshot

DAY = market.DAY

FNG_START = date(2018, 2, 1)


def _classify(value: int) -> str:
    if value <= 24:
        return "Extreme Fear"
    if value <= 46:
        return "Fear"
    if value <= 54:
        return "Neutral"
    if value <= 75:
        return "Greed"
    return "Extreme Greed"


def _tabbed(obj: Any) -> bytes:
    return json.dumps(obj, indent="\t", ensure_ascii=False).encode()


def fear_greed(req: SimRequest) -> Reply:
    """``GET /fng/``: the newest ``limit`` daily Fear & Greed values (0: all of them)."""
    endpoint = "/fng/"
    try:
        limit = int(req.query.get("limit", "1") or "1")
    except ValueError:
        limit = 1
    today = req.now().date()
    n_total = (today - FNG_START).days + 1
    first_day = market.day_index(FNG_START)
    values = market.fear_greed_values(req.seed, first_day + n_total)[first_day:]
    count = n_total if limit <= 0 else min(limit, n_total)
    date_format = req.query.get("date_format", "")
    fmt = {"us": "%m-%d-%Y", "cn": "%Y-%m-%d", "kr": "%Y-%m-%d", "world": "%d-%m-%Y"}.get(
        date_format
    )
    data = []
    for k in range(count):
        day = today - timedelta(days=k)
        value = int(values[n_total - 1 - k])
        ts = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        entry = {
            "value": str(value),
            "value_classification": _classify(value),
            "timestamp": day.strftime(fmt) if fmt else str(ts),
        }
        if k == 0:
            entry["time_until_update"] = str(ts + DAY - req.now_s)
        data.append(entry)
    body = {"name": "Fear and Greed Index", "data": data, "metadata": {"error": None}}

    def extract(obj: Any) -> Records:
        return [((e.get("timestamp"),), e) for e in obj.get("data") or [] if isinstance(e, dict)]

    return snapshot(req, endpoint, body, extract, dumps=_tabbed)


SOURCE = SimSource(
    name="fear_greed", prefix="/fear_greed", routes=((re.compile(r"/fng/?"), fear_greed),)
)
