"""Fault replies: each source's own rate-limit, ban and error answers, and HTML error pages.

Also the body faults (empty, nulls, schema drift) applied to a handler's reply.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from ingestion.simulator.common import Reply, compact, retry_after_value
from ingestion.simulator.sources import SOURCES

CLOUDFLARE_HTML = """<!DOCTYPE html>
<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->
<html class="no-js" lang="en-US">
<head>
<title>{host} | {status}: {reason}</title>
<meta charset="UTF-8" />
<meta name="robots" content="noindex, nofollow" />
</head>
<body>
<div id="cf-wrapper">
<div id="cf-error-details" class="cf-error-details-wrapper">
<h1><span class="cf-error-type">Error</span> <span class="cf-error-code">{status}</span></h1>
<h2 class="cf-subheadline">{reason}</h2>
<p>Cloudflare Ray ID: <strong class="font-semibold">{ray}</strong></p>
</div>
</div>
</body>
</html>
"""
CF_REASONS = {
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway time-out",
    520: "Web server is returning an unknown error",
    522: "Connection timed out",
}


def rate_limited_reply(source: str, retry_after: int, as_date: bool = False) -> Reply:
    """The source's answer to a client over its rate limit."""
    value = retry_after_value(retry_after, as_date)
    reply = SOURCES[source].rate_limited
    if reply is not None:
        return reply(value)
    return Reply(429, compact({"message": "Too Many Requests"}), headers={"Retry-After": value})


def banned_reply(source: str, retry_after: int, as_date: bool = False) -> Reply:
    """The source's IP ban (Binance's 418), or its rate-limit answer where it bans none."""
    reply = SOURCES[source].banned
    if reply is None:
        return rate_limited_reply(source, retry_after, as_date)
    return reply(retry_after, retry_after_value(retry_after, as_date))


def server_error_reply(source: str, status: int) -> Reply:
    """The source's 5xx body."""
    reply = SOURCES[source].server_error
    if reply is not None:
        return reply(status)
    return Reply(status, compact({"error": "Service Unavailable"}))


def html_reply(request: web.Request, status: int) -> Reply:
    """A Cloudflare-style HTML error page with ``status``, as a CDN in front of an API sends."""
    reason = CF_REASONS.get(status, "Unknown error")
    ray = f"{abs(hash((request.path, time.time()))) % (1 << 64):016x}"
    text = CLOUDFLARE_HTML.format(host=request.host, status=status, reason=reason, ray=ray)
    return Reply(status, text.encode(), content_type="text/html")


OPTIONAL_FIELDS = frozenset(
    {
        "market_cap_rank",
        "fully_diluted_valuation",
        "max_supply",
        "total_supply",
        "high_24h",
        "low_24h",
        "price_change_24h",
        "price_change_percentage_24h",
        "market_cap_change_24h",
        "market_cap_change_percentage_24h",
        "ath_date",
        "atl_date",
        "roi",
        "image",
        "time_until_update",
        "rfq_volume",
        "buy",
        "sell",
        "lastQty",
        "bidQty",
        "askQty",
        "market_cap_change_percentage_24h_usd",
        "size",
    }
)
DRIFT_FIELD = "sim_new_field"


def transform_body(kind: str, obj: Any) -> Any:
    """Apply a body fault (empty, nulls, drift_extra, drift_reorder) to a parsed body."""
    if kind == "empty":
        if isinstance(obj, list):
            return []
        if isinstance(obj, dict):
            out: dict[str, Any] = {}
            for k, v in obj.items():
                if k in ("error", "metadata", "last"):
                    out[k] = v
                elif k == "rates":
                    out[k] = {}
                else:
                    out[k] = transform_body(kind, v) if isinstance(v, (list, dict)) else v
            return out
        return obj
    if kind == "nulls":
        if isinstance(obj, list):
            return [transform_body(kind, v) for v in obj]
        if isinstance(obj, dict):
            return {
                k: None if k in OPTIONAL_FIELDS else transform_body(kind, v) for k, v in obj.items()
            }
        return obj
    if kind == "drift_extra":
        if isinstance(obj, list):
            if obj and all(isinstance(r, list) for r in obj):
                return [[*r, "0"] for r in obj]  # a new trailing column in every row
            return [transform_body(kind, v) for v in obj]
        if isinstance(obj, dict):
            out = {k: transform_body(kind, v) for k, v in obj.items()}
            if not any(isinstance(v, list) and v and isinstance(v[0], list) for v in obj.values()):
                out[DRIFT_FIELD] = "drift"
            return out
        return obj
    if kind == "drift_reorder":
        if isinstance(obj, list):
            return [transform_body(kind, v) for v in obj]
        if isinstance(obj, dict):
            return {k: transform_body(kind, obj[k]) for k in reversed(list(obj))}
        return obj
    raise ValueError(kind)
