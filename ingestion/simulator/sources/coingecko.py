"""CoinGecko v3: ``/coins/markets``, ``/global`` and ``/coins/{id}/market_chart``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from ingestion.simulator import fpmath, listings, market
from ingestion.simulator.common import (
    Records,
    Reply,
    SimRequest,
    SimSource,
    compact,
    error,
    iso_ms,
    snapshot,
)
from ingestion.simulator.config import divergence_factors
from ingestion.simulator.universe import CATALOGUE, OTHER_COINS
from ingestion.simulator.universe import SimAsset as Asset

DAY = market.DAY
IMAGE_IDS = {
    "BTC": 1,
    "ETH": 279,
    "USDT": 325,
    "BNB": 825,
    "DOGE": 5,
    "SOL": 4128,
    "XRP": 44,
    "ADA": 975,
    "LTC": 2,
    "LINK": 877,
    "DOT": 12171,
    "USDC": 6319,
}
VS_CURRENCIES = ("usd", "eur", "brl", "gbp", "jpy")


# ---------------------------------------------------------------------------- CoinGecko


def _coins(req: SimRequest) -> list[Asset]:
    return [a for a in CATALOGUE if a.asset_id in req.state.config.assets]


def _vs_rate(req: SimRequest, vs: str, t_s: int) -> float:
    if vs == "usd":
        return 1.0
    day = datetime.fromtimestamp(t_s, UTC).date()
    return market.fx_rate(req.seed, day, "USD", vs.upper())


def _cg_number(x: float) -> float | int:
    if abs(x) >= 1e6:
        return round(x)
    return market.round_sig(x, 6)


def _market_cap(req: SimRequest, asset: Asset, t_s: int) -> float:
    return market.usd_price_at(req.seed, asset.asset_id, t_s) * market.SUPPLY[asset.asset_id][0]


def coingecko_markets(req: SimRequest) -> Reply:
    """``GET /coins/markets``: price, market cap, volume and rank of the catalogue's coins."""
    endpoint = "/coins/markets"
    vs = req.query.get("vs_currency", "").lower()
    if not vs:
        return error(422, {"error": "Missing parameter vs_currency"})
    if vs not in VS_CURRENCIES:
        return error(422, {"error": "invalid vs_currency"})
    coins = _coins(req)
    ids = [i for i in req.query.get("ids", "").split(",") if i]
    if ids:
        coins = [c for c in coins if c.coingecko_id in ids]
    now = req.now_s
    rate = _vs_rate(req, vs, now)
    rows: list[dict[str, Any]] = []
    ranked = sorted(_coins(req), key=lambda a: -_market_cap(req, a, now))
    rank = {a.asset_id: i + 1 for i, a in enumerate(ranked)}
    for asset in coins:
        aid = asset.asset_id
        price = market.usd_price_at(req.seed, aid, now) * rate
        price_24h = market.usd_price_at(req.seed, aid, now - DAY) * _vs_rate(req, vs, now - DAY)
        hours = market.latent_log_usd(req.seed, aid)
        i_now = (now - market.EPOCH0_S) // 3600
        window = fpmath.exp(hours[i_now - 24 : i_now + 1]) * rate
        supply, max_supply = market.SUPPLY[aid]
        closes = market.usd_daily_closes(req.seed, aid, now) * rate
        ath_i, atl_i = int(np.argmax(closes)), int(np.argmin(closes))
        ath, atl = float(closes[ath_i]), float(closes[atl_i])
        day0 = market.EPOCH0
        cap, cap_24h = price * supply, price_24h * supply
        row: dict[str, Any] = {
            "id": asset.coingecko_id,
            "symbol": aid.lower(),
            "name": asset.name,
            "image": f"https://assets.coingecko.com/coins/images/{IMAGE_IDS.get(aid, 1)}/large/"
            f"{asset.coingecko_id}.png?1696501400",
            "current_price": _cg_number(price),
            "market_cap": round(cap),
            "market_cap_rank": rank[aid],
            "fully_diluted_valuation": round(price * (max_supply or supply)),
            "total_volume": round(cap * market.DAILY_USD_VOLUME),
            "high_24h": _cg_number(max(float(window.max()), price)),
            "low_24h": _cg_number(min(float(window.min()), price)),
            "price_change_24h": price - price_24h,
            "price_change_percentage_24h": round((price / price_24h - 1) * 100, 5),
            "market_cap_change_24h": cap - cap_24h,
            "market_cap_change_percentage_24h": round((cap / cap_24h - 1) * 100, 5),
            "circulating_supply": supply,
            "total_supply": max_supply or supply,
            "max_supply": max_supply,
            "ath": _cg_number(max(ath, price)),
            "ath_change_percentage": round((price / max(ath, price) - 1) * 100, 5),
            "ath_date": iso_ms(day0 + timedelta(days=ath_i)),
            "atl": _cg_number(min(atl, price)),
            "atl_change_percentage": round((price / min(atl, price) - 1) * 100, 5),
            "atl_date": iso_ms(day0 + timedelta(days=atl_i)),
            "roi": None,
            "last_updated": iso_ms(datetime.fromtimestamp(now - 7 - rank[aid] % 5, UTC)),
        }
        for period in [p for p in req.query.get("price_change_percentage", "").split(",") if p]:
            seconds = {
                "1h": 3600,
                "24h": DAY,
                "7d": 7 * DAY,
                "14d": 14 * DAY,
                "30d": 30 * DAY,
                "200d": 200 * DAY,
                "1y": 365 * DAY,
            }.get(period)
            if seconds is not None:
                before = market.usd_price_at(req.seed, aid, now - seconds)
                change = (price / rate / before - 1) * 100
                row[f"price_change_percentage_{period}_in_currency"] = change
        rows.append(row)
    order = req.query.get("order", "market_cap_desc")
    sort_keys: dict[str, Any] = {
        "market_cap_desc": lambda r: -r["market_cap"],
        "market_cap_asc": lambda r: r["market_cap"],
        "volume_desc": lambda r: -r["total_volume"],
        "volume_asc": lambda r: r["total_volume"],
        "id_asc": lambda r: r["id"],
        "id_desc": lambda r: tuple(-ord(c) for c in r["id"]),
    }
    rows.sort(key=sort_keys.get(order, sort_keys["market_cap_desc"]))
    try:
        per_page = min(max(int(req.query.get("per_page", "100")), 1), 250)
        page = max(int(req.query.get("page", "1")), 1)
    except ValueError:
        return error(422, {"error": "invalid per_page or page"})
    rows = rows[(page - 1) * per_page : page * per_page]

    def extract(obj: Any) -> Records:
        return [((r.get("id"), r.get("last_updated")), r) for r in obj if isinstance(r, dict)]

    return snapshot(req, endpoint, rows, extract)


def coingecko_global(req: SimRequest) -> Reply:
    """``GET /global``: the whole market's cap and volume in many currencies, and dominance."""
    endpoint = "/global"
    now = req.now_s
    coverage = 0.86  # share of the whole market the catalogue stands for
    caps = {a.asset_id: _market_cap(req, a, now) for a in CATALOGUE}
    caps_24h = {a.asset_id: _market_cap(req, a, now - DAY) for a in CATALOGUE}
    total = sum(caps.values()) / coverage
    total_24h = sum(caps_24h.values()) / coverage
    volume = total * market.DAILY_USD_VOLUME * 1.3
    crypto_units = ("btc", "eth", "ltc", "bnb", "xrp", "link", "dot")
    by_symbol = {a.asset_id.lower(): a.asset_id for a in CATALOGUE}

    def in_currencies(usd_value: float) -> dict[str, float]:
        out: dict[str, float] = {}
        for unit in crypto_units:
            out[unit] = usd_value / market.usd_price_at(req.seed, by_symbol[unit], now)
        for vs in ("usd", "brl", "eur", "gbp", "jpy"):
            out[vs] = usd_value * _vs_rate(req, vs, now)
        out["bits"] = out["btc"] * 1e6
        out["sats"] = out["btc"] * 1e8
        return out

    top = sorted(caps.items(), key=lambda kv: -kv[1])[:10]
    body = {
        "data": {
            "active_cryptocurrencies": 12924,
            "upcoming_icos": 0,
            "ongoing_icos": 49,
            "ended_icos": 3376,
            "markets": 576 + (now // DAY) % 40,
            "total_market_cap": in_currencies(total),
            "total_volume": in_currencies(volume),
            "market_cap_percentage": {k.lower(): v / total * 100 for k, v in top},
            "market_cap_change_percentage_24h_usd": (total / total_24h - 1) * 100,
            "updated_at": now - 13,
        }
    }

    def extract(obj: Any) -> Records:
        data = obj.get("data") or {}
        return [((data.get("updated_at"),), data)]

    return snapshot(req, endpoint, body, extract)


HISTORY_ERROR = (
    "Your request exceeds the allowed time range. Public API users are limited to querying "
    "historical data within the past 365 days. Upgrade to a paid plan to enjoy full historical "
    "data access: https://www.coingecko.com/en/api/pricing. "
)


def coingecko_market_chart(req: SimRequest) -> Reply:
    """``GET /coins/{id}/market_chart``: price, cap and volume points over the last ``days``.

    As CoinGecko does, the points' spacing depends on the range, and the history a request
    may reach depends on whether it carries a pro key.
    """
    endpoint = "/coins/{id}/market_chart"
    coin_id = req.match["coin_id"]
    asset = next((a for a in _coins(req) if a.coingecko_id == coin_id), None)
    if asset is None:
        return error(404, {"error": "coin not found"})
    vs = req.query.get("vs_currency", "").lower()
    if vs not in VS_CURRENCIES:
        return error(422, {"error": "invalid vs_currency"})
    days_text = req.query.get("days", "")
    now = req.now_s
    has_pro_key = "x-cg-pro-api-key" in req.headers
    try:
        days = 36500 if days_text == "max" else int(float(days_text))
    except ValueError:
        return error(422, {"error": "invalid days"})
    if days > 365 and not has_pro_key:
        stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
        return error(
            401,
            {
                "error": {
                    "status": {
                        "timestamp": stamp,
                        "error_code": 10012,
                        "error_message": HISTORY_ERROR,
                    }
                }
            },
        )
    daily = req.query.get("interval") == "daily" or days > 90
    step = DAY if daily else 3600
    first = max(now - days * DAY, market.EPOCH0_S)
    start = -(-first // step) * step  # the first whole step inside the range
    times = [*range(start, now, step), now]
    prices, caps, volumes = [], [], []
    supply = market.SUPPLY[asset.asset_id][0]
    factors = divergence_factors(
        req.state.config.divergences, "coingecko", asset.asset_id, np.asarray(times)
    )
    for n, t in enumerate(times):
        price = market.usd_price_at(req.seed, asset.asset_id, t) * _vs_rate(req, vs, t)
        if factors is not None:
            price *= float(factors[n])
        ms = t * 1000
        prices.append([ms, price])
        caps.append([ms, price * supply])
        volumes.append([ms, price * supply * market.DAILY_USD_VOLUME])
    body = {"prices": prices, "market_caps": caps, "total_volumes": volumes}

    def extract(obj: Any) -> Records:
        out: dict[Any, dict[str, Any]] = {}
        for series in ("prices", "market_caps", "total_volumes"):
            for point in obj.get(series) or []:
                if isinstance(point, list) and point:
                    out.setdefault((coin_id, vs, point[0]), {})[series] = point
        return list(out.items())

    return snapshot(req, endpoint, body, extract)


RATE_LIMITED = {
    "status": {
        "error_code": 429,
        "error_message": (
            "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing "
            "to subscribe to our API plans for higher rate limits."
        ),
    }
}


def _rate_limited(retry_after: str) -> Reply:
    return Reply(429, compact(RATE_LIMITED), headers={"retry-after": retry_after})


def _server_error(status: int) -> Reply:
    return Reply(
        status, compact({"status": {"error_code": status, "error_message": "Service Unavailable"}})
    )


# ---------------------------------------------------------------- the listing
def coingecko_coins_list(req: SimRequest) -> Reply:
    """``/coins/list``: id, symbol, name of every coin, namesakes included, by id."""
    coins = [
        {"id": a.coingecko_id, "symbol": a.asset_id.lower(), "name": a.name}
        for a in CATALOGUE
        if a.asset_id in req.state.config.assets
    ]
    coins += [{"id": c.coin_id, "symbol": c.symbol, "name": c.name} for c in OTHER_COINS]
    coins.sort(key=lambda c: c["id"])
    return snapshot(req, "/coins/list", coins, lambda b: listings.keyed(b, "id"), dumps=compact)


SOURCE = SimSource(
    name="coingecko",
    prefix="/coingecko/api/v3",
    routes=(
        (re.compile(r"/coins/markets/?"), coingecko_markets),
        (re.compile(r"/coins/list/?"), coingecko_coins_list),
        (re.compile(r"/global/?"), coingecko_global),
        (re.compile(r"/coins/(?P<coin_id>[^/]+)/market_chart/?"), coingecko_market_chart),
    ),
    rate_limited=_rate_limited,
    server_error=_server_error,
)
