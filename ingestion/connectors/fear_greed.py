"""alternative.me Fear & Greed index: ``/fng/?limit=N`` (``limit=0``: full history).

Daily values; numbers and timestamps arrive as strings. ``limit`` counts back from today,
so a window is fetched as "the last N days" and records older than it are loaded too
(harmless: loading is idempotent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ingestion.connectors.base import (
    EndpointSpec,
    Expected,
    InvalidRecord,
    ParseResult,
    PlanContext,
    PlannedRequest,
    Record,
    check_numeric,
    floor_time,
    utc_from_seconds,
)
from ingestion.connectors.source import Source
from ingestion.connectors.tables import key

SOURCE = "fear_greed"

DESCRIPTION = Source(
    name=SOURCE,
    title="alternative.me Fear & Greed",
    base_url="https://api.alternative.me",
    rate_limit=60,
)


def plan_fng(ctx: PlanContext) -> list[PlannedRequest]:
    """One request for enough days to cover the window since the last loaded day."""
    window = ctx.window(())
    if window.start >= window.end:
        return []
    days = math.ceil((ctx.now - window.start).total_seconds() / 86400) + 1
    first = floor_time(window.start, 86400)
    last = floor_time(window.end - timedelta(microseconds=1), 86400)
    return [
        PlannedRequest(
            "/fng/",
            {"limit": str(max(days, 1))},
            group="fng",
            expect=(Expected((), first, last, timedelta(days=1)),),
        )
    ]


def parse_fng(path: str, params: Mapping[str, str], body: Any, fetched_at: datetime) -> ParseResult:
    """The daily index values, keyed by their UTC day.

    Raises:
        InvalidRecord: the body is not ``{"data": [...]}``.
    """
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise InvalidRecord('expected {"data": [...]}')
    result = ParseResult()

    def build(item: Any) -> Record:
        check_numeric("value", item.get("value"))
        return Record((utc_from_seconds(item.get("timestamp")).date(),), item)

    for item in body["data"]:
        result.add(item, build, item)
    return result


ENDPOINTS = (
    EndpointSpec(
        SOURCE,
        "fng",
        "Crypto Fear & Greed index, one value a day.",
        is_time_windowed=True,
        cadence="15 0 * * *",
        plan=plan_fng,
        needs_assets=False,
        parse=parse_fng,
        keys=(key("observed_on", "date"),),
        record_shape=(
            "one element of `data` as sent: value, value_classification, timestamp (strings), "
            "time_until_update on the newest"
        ),
        gap_calendar="daily",
    ),
)
