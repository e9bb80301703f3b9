"""The aiohttp app: routing by source prefix, faults, rate limits, request log, admin API."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ingestion.simulator.common import (
    Handler,
    Records,
    Reply,
    SimRequest,
    compact,
)
from ingestion.simulator.config import BODY_FAULTS, FaultPlan, FaultRule, SimulatorConfig
from ingestion.simulator.faults import (
    DRIFT_FIELD,
    banned_reply,
    html_reply,
    rate_limited_reply,
    server_error_reply,
    transform_body,
)
from ingestion.simulator.sources import SOURCES
from ingestion.simulator.state import SimulatorState

logger = logging.getLogger(__name__)


__all__ = ["DRIFT_FIELD", "RunningSimulator", "create_app", "run_simulator", "serve"]

STATE_KEY = web.AppKey("simulator_state", SimulatorState)
JSON = "application/json"


def simulator_base_urls(root: str) -> dict[str, str]:
    """Base URL of every source on a simulator at ``root`` (e.g. http://127.0.0.1:8765)."""
    root = root.rstrip("/")
    return {name: root + source.prefix for name, source in SOURCES.items()}


# ----------------------------------------------------------------------------- dispatch


def _source_of(path: str) -> tuple[str, str] | None:
    for source, prefix in ((name, s.prefix) for name, s in SOURCES.items()):
        if path.startswith(prefix + "/") or path == prefix:
            return source, path[len(prefix) :] or "/"
    return None


def _route(source: str, rel: str) -> tuple[Handler, dict[str, str]] | None:
    for pattern, handler in SOURCES[source].routes:  # (path regex under the prefix, handler)
        m = pattern.fullmatch(rel)
        if m is not None:
            return handler, {k: v for k, v in m.groupdict().items() if v is not None}
    return None


def _not_found(source: str) -> Reply:
    reply = SOURCES[source].not_found
    return reply() if reply is not None else Reply(404, compact({"error": "Not Found"}))


async def _drop_connection(request: web.Request) -> web.StreamResponse:
    if request.transport is not None:
        request.transport.close()
    # The connection is gone; aiohttp discards whatever is returned.
    raise asyncio.CancelledError


async def handle(request: web.Request) -> web.StreamResponse:
    """Serve one API request: route it to its source's handler, apply the fault plan, log it."""
    state = request.app[STATE_KEY]
    started = time.perf_counter()
    found = _source_of(request.path)
    if found is None:
        raise web.HTTPNotFound()
    source, rel = found
    routed = _route(source, rel)
    endpoint = rel
    handler = None
    match: dict[str, str] = {}
    if routed is not None:
        handler, match = routed
    n = state.next_request_number(source)
    fault = state.faults.pick(source, endpoint, n)
    now_s = int(state.now().timestamp())
    entry: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(),
        "sim_now": now_s,
        "source": source,
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "n": n,
        "fault": fault.kind if fault else None,
        # whether a key header came (never its value): tests check where keys travel
        "key_sent": any(h.lower().endswith("-api-key") for h in request.headers),
    }
    weigh = SOURCES[source].weight
    weight = weigh(rel, request.query) if weigh is not None else 1
    used = state.limiter.add(source, weight)
    reply = await _faulted_or_none(request, state, source, fault, entry)
    limit = state.config.rate_limits.get(source)
    if reply is None and limit is not None and used > limit:
        state.limiter.over_limit_hits[source] += 1
        retry = state.limiter.seconds_to_reset()
        ban_after = SOURCES[source].ban_after
        if ban_after is not None and state.limiter.over_limit_hits[source] > ban_after:
            reply = banned_reply(source, retry * 2)
        else:
            reply = rate_limited_reply(source, retry)
        entry["fault"] = "rate_limited"
    if reply is None:
        if handler is None:
            reply = _not_found(source)
        else:
            cache_key = _cache_key(state, request, now_s) if fault is None else None
            cached = state.replies.get(cache_key) if cache_key is not None else None
            if cached is not None:
                reply = cached  # recorded in the ground truth when first served
            else:
                sim_request = SimRequest(
                    source, request.path, request.query, match, request.headers, state, now_s
                )
                reply = handler(sim_request)
                reply = _apply_body_fault(state, source, reply.endpoint or endpoint, fault, reply)
                if cache_key is not None and reply.status == 200:
                    state.replies[cache_key] = reply
            endpoint = reply.endpoint or endpoint
    headers = dict(reply.headers)
    usage_headers = SOURCES[source].usage_headers
    if usage_headers is not None:
        headers.update(usage_headers(used))
    entry.update(
        endpoint=endpoint,
        status=reply.status,
        bytes=len(reply.body),
        ms=round((time.perf_counter() - started) * 1000, 3),
    )
    state.log_request(entry)
    charset = "utf-8"
    return web.Response(
        status=reply.status,
        body=reply.body,
        headers=headers,
        content_type=reply.content_type,
        charset=charset,
    )


def _cache_key(state: SimulatorState, request: web.Request, now_s: int) -> tuple[Any, ...] | None:
    """What a reply is kept under with ``cache_replies`` (None: the cache is off).

    Everything a handler reads: the request (headers included: a key may change the answer),
    the simulated time and the pairs' statuses.
    """
    if not state.config.cache_replies:
        return None
    return (
        request.method,
        request.path,
        tuple(sorted(request.query.items())),
        tuple(sorted(request.headers.items())),
        now_s,
        tuple(sorted(state.pair_status.items())),
    )


async def _faulted_or_none(
    request: web.Request,
    state: SimulatorState,
    source: str,
    fault: FaultRule | None,
    entry: dict[str, Any],
) -> Reply | None:
    if fault is None:
        return None
    kind = fault.kind
    if kind == "latency":
        await asyncio.sleep(fault.delay if fault.delay is not None else 0.5)
        return None
    if kind == "timeout":
        state.log_request({**entry, "status": None, "endpoint": None})
        await asyncio.sleep(fault.delay if fault.delay is not None else 30.0)
        await _drop_connection(request)
    if kind == "disconnect":
        state.log_request({**entry, "status": None, "endpoint": None})
        await _drop_connection(request)
    if kind == "rate_limit":
        return rate_limited_reply(
            source,
            1 if fault.retry_after is None else fault.retry_after,
            bool(fault.retry_after_date),
        )
    if kind == "ban":
        return banned_reply(source, fault.retry_after or 2, bool(fault.retry_after_date))
    if kind == "server_error":
        return server_error_reply(source, fault.status or 503)
    if kind == "api_error":
        api_error = SOURCES[source].api_error
        if api_error is not None:
            return api_error(fault.status or 500)
        return server_error_reply(source, fault.status or 500)
    if kind == "html":
        return html_reply(request, fault.status or 520)
    return None  # body faults are applied after the handler


def _apply_body_fault(
    state: SimulatorState, source: str, endpoint: str, fault: FaultRule | None, reply: Reply
) -> Reply:
    if fault is None or fault.kind not in BODY_FAULTS or reply.status != 200:
        if reply.record is not None and reply.status == 200:
            reply.record()
        return reply
    if fault.kind == "truncated":
        reply.body = reply.body[: max(1, len(reply.body) // 2)]
        return reply
    obj = json.loads(reply.body)
    obj = transform_body(fault.kind, obj)
    reply.body = reply.dumps(obj)
    if reply.extract is not None:
        records: Records = reply.extract(obj)
        for key, record in records:
            state.truth.put(source, endpoint, key, record)
    return reply


# -------------------------------------------------------------------------------- admin


def _parse_dt(text: str | None) -> datetime | None:
    if text is None:
        return None
    t = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


async def admin_clock(request: web.Request) -> web.Response:
    """``/_admin/clock``: the simulated time; a POST of ``{"now": ...}`` sets it (null: real)."""
    state = request.app[STATE_KEY]
    if request.method == "POST":
        data = await request.json()
        state.set_now(_parse_dt(data.get("now")))
    return web.json_response({"now": state.now().isoformat(), "fixed": state._now is not None})


async def admin_faults(request: web.Request) -> web.Response:
    """``/_admin/faults``: the fault plan; a POST replaces it (a plan, or ``{"spec": "..."}``).

    An invalid plan gets a 400 with the reason, and the current plan stays.
    """
    state = request.app[STATE_KEY]
    if request.method == "POST":
        data = await request.json()
        try:
            if isinstance(data, dict) and "spec" in data:
                plan = FaultPlan.parse(data["spec"])
            else:
                plan = FaultPlan.from_dict(data)
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        state.set_faults(plan)
    return web.json_response(state.faults.to_dict())


async def admin_requests(request: web.Request) -> web.Response:
    """``/_admin/requests``: the request log after ``since_seq``, of ``source`` when given."""
    state = request.app[STATE_KEY]
    since = int(request.query.get("since_seq", "0"))
    items = [r for r in state.request_log(request.query.get("source")) if r["seq"] > since]
    return web.json_response(items)


async def admin_ground_truth(request: web.Request) -> web.Response:
    """``/_admin/ground_truth``: the records served for ``source``'s ``endpoint``, by key.

    Without both parameters it lists the endpoints that served anything.
    """
    state = request.app[STATE_KEY]
    source = request.query.get("source")
    endpoint = request.query.get("endpoint")
    if not source or not endpoint:
        listing = [{"source": s, "endpoint": e} for s, e in state.truth.endpoints()]
        return web.json_response({"endpoints": listing})
    records = state.ground_truth(source, endpoint)
    items = [{"key": list(k), "record": v} for k, v in records.items()]
    items.sort(key=lambda item: json.dumps(item["key"]))
    return web.json_response(
        {"source": source, "endpoint": endpoint, "count": len(items), "records": items}
    )


async def admin_health(request: web.Request) -> web.Response:
    """``/_admin/health``: ok, and each source's base URL on this simulator."""
    return web.json_response(
        {"ok": True, "base_urls": simulator_base_urls(f"{request.scheme}://{request.host}")}
    )


def create_app(config: SimulatorConfig | None = None) -> web.Application:
    """The simulator as an aiohttp application (one app serves every source)."""
    config = config or SimulatorConfig()
    app = web.Application()
    app[STATE_KEY] = SimulatorState(config)
    app.router.add_route("*", "/_admin/clock", admin_clock)
    app.router.add_route("*", "/_admin/faults", admin_faults)
    app.router.add_get("/_admin/requests", admin_requests)
    app.router.add_get("/_admin/ground_truth", admin_ground_truth)
    app.router.add_get("/_admin/health", admin_health)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@dataclass
class RunningSimulator:
    """A simulator serving in this process (see :func:`run_simulator`)."""

    app: web.Application
    root: str

    @property
    def state(self) -> SimulatorState:
        """The simulator's state: clock, fault plan, request log and ground truth."""
        return self.app[STATE_KEY]

    @property
    def base_urls(self) -> dict[str, str]:
        """Each source's base URL on this simulator, by source name."""
        return simulator_base_urls(self.root)

    def set_now(self, now: datetime | None) -> None:
        """Set the simulated clock (None: follow the wall clock)."""
        self.state.set_now(now)

    def set_faults(self, plan: FaultPlan) -> None:
        """Inject the faults of ``plan`` from now on, counting requests afresh."""
        self.state.set_faults(plan)


@asynccontextmanager
async def run_simulator(
    config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSimulator]:
    """Serve the simulator on ``host:port`` (0 = a free port) for the ``async with`` block."""
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None)
    assert sockets, "the simulator did not bind a socket"
    bound_port = sockets[0].getsockname()[1]
    try:
        yield RunningSimulator(app, f"http://{host}:{bound_port}")
    finally:
        await runner.cleanup()


def serve(
    port: int,
    host: str = "127.0.0.1",
    seed: int = 42,
    faults: str | None = None,
    *,
    cache_replies: bool = False,
    coinbase_no_trade_rate: float | None = None,
) -> None:
    """Serve the simulator until interrupted (``criptopipe simulator --port N``).

    ``coinbase_no_trade_rate``: see :class:`SimulatorConfig` (None: its default).
    """
    config = SimulatorConfig(seed=seed, faults=FaultPlan.parse(faults), cache_replies=cache_replies)
    if coinbase_no_trade_rate is not None:
        config = replace(config, coinbase_no_trade_rate=coinbase_no_trade_rate)
    root = f"http://{host}:{port}"
    for source, url in simulator_base_urls(root).items():
        logger.info("simulator %s base URL: %s", source, url)
    web.run_app(
        create_app(config),
        host=host,
        port=port,
        access_log=None,
        print=lambda _msg: None,
        shutdown_timeout=0.5,
    )
