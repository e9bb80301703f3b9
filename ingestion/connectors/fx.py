"""Frankfurter FX: ``/{start}..{end}?from=USD&to=BRL,EUR`` (and ``/latest``).

ECB business days only: weekends and holidays are absent here and carried forward in dbt,
never looked ahead. Each rate is unpivoted into one record
``{"date", "base", "quote", "rate"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ingestion.calendars import is_ecb_business_day
from ingestion.connectors.base import (
    EndpointSpec,
    Expected,
    InvalidRecord,
    ParseResult,
    PlanContext,
    PlannedRequest,
    Record,
    check_numeric,
    require_text,
)
from ingestion.connectors.source import Source
from ingestion.connectors.tables import key

SOURCE = "fx"
BASE = "USD"

DESCRIPTION = Source(
    name=SOURCE,
    title="Frankfurter (ECB reference rates)",
    base_url="https://api.frankfurter.dev/v1",
    rate_limit=120,
)


def plan_rates(ctx: PlanContext) -> list[PlannedRequest]:
    """One time-series request over the configured currencies' windows, against USD."""
    quotes = [c for c in ctx.settings.fx_currencies if c != BASE]
    if not quotes:
        return []
    windows = [ctx.window((BASE, quote)) for quote in quotes]
    start = min(w.start for w in windows).date()
    end = (max(w.end for w in windows) - timedelta(microseconds=1)).date()
    if end < start:
        return []
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    last = datetime(end.year, end.month, end.day, tzinfo=UTC)
    return [
        PlannedRequest(
            f"/{start.isoformat()}..{end.isoformat()}",
            {"from": BASE, "to": ",".join(quotes)},
            group="rates",
            # A day's rates are final once the day is over: every ECB business day must come.
            expect=tuple(
                Expected((BASE, quote), first, last, timedelta(days=1), is_ecb_business_day)
                for quote in quotes
            ),
        )
    ]


def parse_rates(
    path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParseResult:
    """One record per day and quote currency, from a time series or ``/latest``.

    Raises:
        InvalidRecord: the body has no ``rates`` object.
    """
    if not isinstance(body, dict) or not isinstance(body.get("rates"), dict):
        raise InvalidRecord('expected {"base": ..., "rates": {...}}')
    base = body.get("base")
    rates: dict[str, Any] = body["rates"]
    if "date" in body:  # /latest: {"date": d, "rates": {CUR: rate}}
        rates = {body["date"]: rates}
    result = ParseResult()

    def build(day: str, quote: str, rate: Any) -> Record:
        require_text("base", base)
        check_numeric("rate", rate, positive=True)
        try:
            rate_date = datetime.strptime(day, "%Y-%m-%d").date()
        except ValueError:
            raise InvalidRecord(f"rate date {day!r} is not YYYY-MM-DD") from None
        return Record(
            (str(base), quote, rate_date), {"date": day, "base": base, "quote": quote, "rate": rate}
        )

    for day, by_currency in rates.items():
        if not isinstance(by_currency, dict):
            result.rejected.append(_rejected(day, by_currency))
            continue
        for quote, rate in by_currency.items():
            raw = {"date": day, "base": base, "quote": quote, "rate": rate}
            result.add(raw, build, day, quote, rate)
    return result


def _rejected(day: str, value: Any) -> Any:
    from ingestion.connectors.base import Rejected

    return Rejected(f"rates of {day} are not an object", {"date": day, "rates": value})


ENDPOINTS = (
    EndpointSpec(
        SOURCE,
        "rates",
        "ECB reference rates from USD (Frankfurter), business days only.",
        is_time_windowed=True,
        cadence="0 17 * * 1-5",
        plan=plan_rates,
        needs_assets=False,
        parse=parse_rates,
        keys=(key("base_currency"), key("quote_currency"), key("rate_date", "date")),
        record_shape=(
            'one rate, unpivoted from Frankfurter\'s {"rates": {date: {CUR: rate}}}: '
            '{"date": "2024-05-03", "base": "USD", "quote": "BRL", "rate": 5.07}'
        ),
        gap_calendar="ecb",
    ),
)
