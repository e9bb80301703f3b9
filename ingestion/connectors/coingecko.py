"""CoinGecko v3: ``/coins/markets``, ``/global``, ``/coins/{id}/market_chart`` and ``/coins/list``.

Keyless, the API allows a few calls a minute (a demo key, sent as header
``x-cg-demo-api-key`` and never stored, raises that) and at most 365 days of history:
older parts of a window are reported in the run notes, not requested.

``/coins/list`` is the coin listing: id, symbol, name of every coin. Symbols are lower
case and far from unique (``btc`` names four coins, ``usdt`` dozens), so a ticker is
resolved to an id by configuration or by market-cap rank (``ingestion.resolution``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ingestion.connectors.base import (
    EndpointSpec,
    InvalidRecord,
    KeyValue,
    ParseResult,
    PlanContext,
    PlannedRequest,
    Record,
    check_numeric,
    require_text,
    utc_from_iso,
    utc_from_millis,
    utc_from_seconds,
)
from ingestion.connectors.source import ApiKey, Source
from ingestion.connectors.tables import key
from ingestion.listings import Coin, text

SOURCE = "coingecko"
VS_CURRENCY = "usd"
MARKETS_PER_PAGE = 250  # the API's cap
HISTORY_DAYS = 365  # keyless (and demo) history limit

DESCRIPTION = Source(
    name=SOURCE,
    title="CoinGecko v3",
    base_url="https://api.coingecko.com/api/v3",
    rate_limit=10,  # keyless: "5 to 15 calls a minute"
    api_key=ApiKey(
        header="x-cg-demo-api-key",
        description="CoinGecko demo key (header x-cg-demo-api-key); optional.",
        rate_limit=30,
    ),
)


def plan_markets(ctx: PlanContext) -> list[PlannedRequest]:
    """The ``/coins/markets`` pages that cover the top ``markets_top_n`` coins by market cap."""
    top_n = max(ctx.settings.markets_top_n, 0)
    per_page = min(top_n, MARKETS_PER_PAGE)
    pages = math.ceil(top_n / MARKETS_PER_PAGE) if per_page else 0
    return [
        PlannedRequest(
            "/coins/markets",
            {
                "vs_currency": VS_CURRENCY,
                "order": "market_cap_desc",
                "per_page": str(per_page),
                "page": str(page),
                "sparkline": "false",
            },
        )
        for page in range(1, pages + 1)
    ]


def parse_markets(
    path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParseResult:
    """Coins of a markets page, keyed by coin id, quote currency and ``last_updated``.

    Raises:
        InvalidRecord: the body is not a JSON array.
    """
    if not isinstance(body, list):
        raise InvalidRecord(f"expected a JSON array of coins, got {type(body).__name__}")
    vs_currency = params.get("vs_currency", VS_CURRENCY)
    result = ParseResult()

    def build(item: Any) -> Record:
        coin_id = require_text("id", item.get("id"))
        check_numeric("current_price", item.get("current_price"))
        return Record((coin_id, vs_currency, utc_from_iso(item.get("last_updated"))), item)

    for item in body:
        result.add(item, build, item)
    return result


def plan_global(ctx: PlanContext) -> list[PlannedRequest]:
    """The single ``/global`` request."""
    return [PlannedRequest("/global", {})]


def parse_global(
    path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParseResult:
    """The one ``/global`` record, keyed by its ``updated_at``.

    Raises:
        InvalidRecord: the body is not ``{"data": {...}}``.
    """
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise InvalidRecord('expected {"data": {...}}')
    data = body["data"]
    result = ParseResult()

    def build() -> Record:
        total = data.get("total_market_cap")
        if not isinstance(total, dict):
            raise InvalidRecord("total_market_cap is missing")
        check_numeric("total_market_cap.usd", total.get("usd"))
        return Record((utc_from_seconds(data.get("updated_at")),), data)

    result.add(data, build)
    return result


def plan_market_chart(ctx: PlanContext) -> list[PlannedRequest]:
    """Market-chart requests per asset, within the days of history CoinGecko serves.

    The part of a window older than that is noted as lost, not requested.
    """
    requests = []
    oldest = ctx.now - timedelta(days=HISTORY_DAYS)
    unknown = [a.asset_id for a in ctx.assets if a.coingecko_id is None]
    if unknown:
        ctx.notes.append(f"not listed on CoinGecko, skipped: {', '.join(unknown)}")
    for asset in ctx.assets:
        if asset.coingecko_id is None:
            continue
        window = ctx.window((asset.coingecko_id, VS_CURRENCY))
        if window.start >= window.end:
            continue
        if window.start < oldest:
            ctx.notes.append(
                f"{asset.coingecko_id}: CoinGecko serves {HISTORY_DAYS} days of history; "
                f"{window.start:%Y-%m-%d} .. {min(oldest, window.end):%Y-%m-%d} cannot be fetched"
            )
        if window.end <= oldest:
            continue
        days = math.ceil((ctx.now - max(window.start, oldest)).total_seconds() / 86400)
        requests.append(
            PlannedRequest(
                f"/coins/{asset.coingecko_id}/market_chart",
                {
                    "vs_currency": VS_CURRENCY,
                    "days": str(min(max(days, 1), HISTORY_DAYS)),
                    "interval": "daily",
                },
                group=asset.coingecko_id,
            )
        )
    return requests


def parse_market_chart(
    path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParseResult:
    """The points of one coin's market chart (price, cap and volume at one time), keyed by time.

    Raises:
        InvalidRecord: the body has no ``prices`` array.
    """
    coin_id = path.removeprefix("/coins/").removesuffix("/market_chart")
    vs_currency = params.get("vs_currency", VS_CURRENCY)
    if not isinstance(body, dict) or not isinstance(body.get("prices"), list):
        raise InvalidRecord('expected {"prices": [...], "market_caps": [...], ...}')
    prices = body["prices"]
    caps = body.get("market_caps") or []
    volumes = body.get("total_volumes") or []
    result = ParseResult()

    def build(point: dict[str, Any]) -> Record:
        price = point["prices"]
        if not isinstance(price, list) or len(price) != 2:
            raise InvalidRecord(f"price point {price!r} is not [ms, price]")
        check_numeric("price", price[1])
        return Record((coin_id, vs_currency, utc_from_millis(price[0])), point)

    for i, price in enumerate(prices):
        point = {
            "prices": price,
            "market_caps": caps[i] if i < len(caps) else None,
            "total_volumes": volumes[i] if i < len(volumes) else None,
        }
        result.add(point, build, point)
    return result


def plan_coins_list(ctx: PlanContext) -> list[PlannedRequest]:
    """One request for the whole coin list."""
    return [PlannedRequest("/coins/list", {})]


def parse_coins_list(
    path: str, params: Mapping[str, str], body: Any, fetched_at: datetime
) -> ParseResult:
    """One record per coin, keyed by its id (ids may hold spaces or start with ``-``)."""
    if not isinstance(body, list):
        raise InvalidRecord(f"expected a JSON array of coins, got {type(body).__name__}")
    result = ParseResult()

    def build(item: Any) -> Record:
        return Record((require_text("id", item.get("id")),), item)

    for item in body:
        result.add(item, build, item)
    return result


def read_coin(key: tuple[KeyValue, ...], record: Any) -> Coin:
    """A ``/coins/list`` entry as a :class:`Coin`."""
    return Coin(str(key[0]), text(record, "symbol").lower(), str(record.get("name") or key[0]))


ENDPOINTS = (
    EndpointSpec(
        SOURCE,
        "markets",
        "Top coins by market cap: price, cap, volume, supply (snapshot).",
        is_time_windowed=False,
        cadence="*/15 * * * *",
        plan=plan_markets,
        needs_assets=False,
        parse=parse_markets,
        keys=(key("coin_id"), key("vs_currency"), key("last_updated_at", "timestamptz")),
        record_shape="one element of the /coins/markets array, as sent (object)",
        page_cap=MARKETS_PER_PAGE,
    ),
    EndpointSpec(
        SOURCE,
        "global",
        "Total crypto market cap and dominance (snapshot).",
        is_time_windowed=False,
        cadence="*/15 * * * *",
        plan=plan_global,
        needs_assets=False,
        parse=parse_global,
        keys=(key("updated_at", "timestamptz"),),
        record_shape=(
            "the `data` object of /global (total_market_cap, market_cap_percentage, updated_at, …)"
        ),
    ),
    EndpointSpec(
        SOURCE,
        "market_chart",
        "Daily price, market cap and volume history per tracked coin.",
        is_time_windowed=True,
        cadence="30 0 * * *",
        plan=plan_market_chart,
        parse=parse_market_chart,
        keys=(key("coin_id"), key("vs_currency"), key("observed_at", "timestamptz")),
        record_shape=(
            'one point of /coins/{id}/market_chart: {"prices": [ms, price], '
            '"market_caps": [ms, cap], "total_volumes": [ms, volume]} (the three arrays zipped)'
        ),
        history_limit=f"{HISTORY_DAYS} days without a paid key",
    ),
    EndpointSpec(
        SOURCE,
        "coins_list",
        "CoinGecko's coin listing: id, symbol and name of every coin.",
        is_time_windowed=False,
        cadence="20 3 * * *",
        plan=plan_coins_list,
        parse=parse_coins_list,
        keys=(key("coin_id"),),
        record_shape=("one /coins/list element as sent: id, symbol (lower case, not unique), name"),
        is_listing=True,
        needs_assets=False,
    ),
)
