"""The HTTP client against the simulator's faults: what is retried, what fails at once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from pydantic import SecretStr

from ingestion.connectors.source import RequestWeight
from ingestion.errors import RegionBlockedError, RequestError
from ingestion.http import HttpClient
from ingestion.pacing import WeightBudget
from ingestion.settings import Settings
from ingestion.simulator import FaultPlan, RunningSimulator

KLINES = "/api/v3/klines"
PARAMS = {"symbol": "BTCUSDT", "interval": "1h", "limit": "5"}


@pytest.fixture
async def client(sim_settings: Settings) -> AsyncIterator[HttpClient]:
    async with HttpClient(sim_settings) as http:
        yield http


@pytest.mark.parametrize(
    "plan",
    [
        "binance:rate_limit:first=1,retry_after=1",  # 429 + Retry-After
        "binance:server_error:first=2",  # 503
        "binance:server_error:first=1,status=502",
        "binance:html:first=1",  # Cloudflare page with 520
        "binance:truncated:first=1",  # a 200 cut in half
    ],
)
async def test_transient_failures_are_retried(
    sim: RunningSimulator, client: HttpClient, plan: str
) -> None:
    sim.set_faults(FaultPlan.parse(plan))
    response = await client.get_json("binance", "klines", KLINES, PARAMS)
    assert response.status == 200 and len(response.data) == 5
    counter = client.counter("binance", "klines")
    assert counter.retries >= 1 and counter.requests == counter.retries + 1


async def test_a_dropped_connection_does_not_fail_the_request(
    sim: RunningSimulator, client: HttpClient
) -> None:
    # aiohttp may itself retry a request whose connection dropped; either way it succeeds.
    sim.set_faults(FaultPlan.parse("binance:disconnect:first=2"))
    response = await client.get_json("binance", "klines", KLINES, PARAMS)
    assert len(response.data) == 5


async def test_retry_after_is_honoured(sim: RunningSimulator, client: HttpClient) -> None:
    sim.set_faults(FaultPlan.parse("binance:rate_limit:first=1,retry_after=1"))
    started = time.monotonic()
    await client.get_json("binance", "klines", KLINES, PARAMS)
    assert time.monotonic() - started >= 0.95  # backoff settings alone would be ~0.05s


async def test_timeouts_are_retried(sim: RunningSimulator, sim_settings: Settings) -> None:
    sim.set_faults(FaultPlan.parse("binance:timeout:first=1,delay=5"))
    fast = sim_settings.model_copy(update={"http_timeout_seconds": 0.3})
    async with HttpClient(fast) as http:
        response = await http.get_json("binance", "klines", KLINES, PARAMS)
        assert response.status == 200
        assert http.counter("binance", "klines").retries == 1


async def test_kraken_rate_limit_inside_a_200_is_retried(
    sim: RunningSimulator, client: HttpClient
) -> None:
    sim.set_faults(FaultPlan.parse("kraken:rate_limit:first=1"))
    response = await client.get_json("kraken", "ticker", "/0/public/Ticker", {"pair": "XBTUSD"})
    assert "XXBTZUSD" in response.data["result"]
    assert client.counter("kraken", "ticker").retries == 1


async def test_gives_up_after_the_cap_naming_what_failed(
    sim: RunningSimulator, client: HttpClient
) -> None:
    sim.set_faults(FaultPlan.parse("binance:server_error:first=50"))
    with pytest.raises(RequestError) as caught:
        await client.get_json("binance", "klines", KLINES, PARAMS)
    message = str(caught.value)
    assert message.startswith("binance/klines: GET /api/v3/klines?symbol=BTCUSDT")
    assert "HTTP 503" in message and "gave up after 3 retries" in message
    counter = client.counter("binance", "klines")
    assert (counter.requests, counter.retries) == (4, 3)


async def test_client_errors_are_not_retried(sim: RunningSimulator, client: HttpClient) -> None:
    with pytest.raises(RequestError) as caught:
        await client.get_json("binance", "klines", KLINES, {**PARAMS, "symbol": "NOPEUSDT"})
    assert caught.value.status == 400
    assert client.counter("binance", "klines").requests == 1


async def test_kraken_errors_in_a_200_fail_without_retry(client: HttpClient) -> None:
    with pytest.raises(RequestError, match="EQuery:Unknown asset pair"):
        await client.get_json("kraken", "ohlc", "/0/public/OHLC", {"pair": "NOPEUSD"})
    assert client.counter("kraken", "ohlc").retries == 0


async def test_http_451_says_to_switch_the_binance_host(sim_settings: Settings) -> None:
    async def blocked(request: web.Request) -> web.Response:
        return web.json_response({"code": 0, "msg": "restricted location"}, status=451)

    app = web.Application()
    app.router.add_get("/api/v3/klines", blocked)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    settings = sim_settings.model_copy(update={"binance_base_url": f"http://127.0.0.1:{port}"})
    try:
        async with HttpClient(settings) as http:
            with pytest.raises(RegionBlockedError) as caught:
                await http.get_json("binance", "klines", KLINES, PARAMS)
            assert http.counter("binance", "klines").requests == 1
    finally:
        await runner.cleanup()
    assert "CRIPTOPIPE_BINANCE_BASE_URL" in str(caught.value)
    assert "https://data-api.binance.vision" in str(caught.value)


def test_binance_weight_slows_down_near_the_budget() -> None:
    weight = WeightBudget(RequestWeight("X-MBX-USED-WEIGHT-1M", budget=1200))
    weight.observe({"X-MBX-USED-WEIGHT-1M": "100"})
    assert weight.delay() == 0.0
    weight.observe({"X-MBX-USED-WEIGHT-1M": "1150"})
    assert 0.0 < weight.delay() <= 60.0
    weight.observe({"X-MBX-USED-WEIGHT-1M": "1200"})
    assert weight.delay() >= 60.0 - (time.time() % 60.0) - 0.5  # waits for the next minute


async def test_the_key_header_never_follows_a_redirect_to_another_host(
    sim_settings: Settings,
) -> None:
    """CoinGecko's key goes to CoinGecko's origin only: a redirect within it keeps the
    header, a redirect to another host (here: another port) drops it."""
    seen: list[tuple[str, str | None]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("x-cg-demo-api-key")))
        return web.json_response({"data": {}})

    async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return runner, f"http://127.0.0.1:{port}"

    other = web.Application()
    other.router.add_get("/stolen", record)
    other_runner, other_root = await serve(other)

    async def redirect(request: web.Request) -> web.Response:
        await record(request)
        raise web.HTTPFound({"/global": "/global/v2"}.get(request.path, f"{other_root}/stolen"))

    api = web.Application()
    api.router.add_get("/global", redirect)
    api.router.add_get("/global/v2", redirect)
    api_runner, api_root = await serve(api)
    settings = sim_settings.model_copy(
        update={
            "coingecko_base_url": api_root,
            "coingecko_api_key": SecretStr("CG-marker-key"),
        }
    )
    try:
        async with HttpClient(settings) as http:
            response = await http.get_json("coingecko", "global", "/global")
    finally:
        await api_runner.cleanup()
        await other_runner.cleanup()
    assert response.status == 200
    assert seen == [
        ("/global", "CG-marker-key"),
        ("/global/v2", "CG-marker-key"),  # the same origin: kept
        ("/stolen", None),  # another host: dropped
    ]
