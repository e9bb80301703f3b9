"""Every fault mode, as a client sees it; reproducible plans; the admin API; ground truth."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from simhelpers import NOW, Http, get_json

from ingestion.simulator import (
    FaultPlan,
    FaultRule,
    RunningSimulator,
    SimulatorConfig,
    run_simulator,
)

KLINES = "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=3"


def script(kind: str, source: str = "binance", first_n: int = 1, **kw: object) -> FaultPlan:
    rule = FaultRule(kind=kind, source=source, first_n=first_n, **kw)  # type: ignore[arg-type]
    return FaultPlan(rules=(rule,))


@pytest.mark.parametrize(
    ("source", "path", "status", "check"),
    [
        (
            "coingecko",
            "/global",
            429,
            lambda h, b: h["retry-after"] == "1" and json.loads(b)["status"]["error_code"] == 429,
        ),
        (
            "binance",
            KLINES,
            429,
            lambda h, b: (
                h["Retry-After"] == "1"
                and json.loads(b)["code"] == -1003
                and "X-MBX-USED-WEIGHT-1M" in h
            ),
        ),
        (
            "kraken",
            "/0/public/Ticker?pair=XBTUSD",
            200,
            lambda h, b: json.loads(b) == {"error": ["EAPI:Rate limit exceeded"]},
        ),
        (
            "coinbase",
            "/products/BTC-USD/ticker",
            429,
            lambda h, b: json.loads(b) == {"message": "Too Many Requests"},
        ),
    ],
)
async def test_rate_limit_answers_like_each_api(
    sim: RunningSimulator,
    http: Http,
    source: str,
    path: str,
    status: int,
    check: Callable[[Any, bytes], bool],
) -> None:
    sim.set_faults(script("rate_limit", source))
    async with http.get(sim.base_urls[source] + path) as resp:
        assert resp.status == status
        assert check(resp.headers, await resp.read())
    async with http.get(sim.base_urls[source] + path) as resp:  # only the first request
        assert resp.status == 200 and 'error":["E' not in await resp.text()


async def test_status_and_body_faults(sim: RunningSimulator, http: Http) -> None:
    url = sim.base_urls["binance"] + KLINES
    cases = {
        "ban": lambda r, b: (
            r.status == 418
            and "IP banned" in json.loads(b)["msg"]
            and r.headers["Retry-After"] == "2"
        ),
        "server_error": lambda r, b: r.status == 503 and json.loads(b)["code"] == -1001,
        "html": lambda r, b: (
            r.status == 520 and r.content_type == "text/html" and b.startswith(b"<!DOCTYPE html>")
        ),
        "truncated": lambda r, b: r.status == 200 and _not_json(b),
        "empty": lambda r, b: r.status == 200 and json.loads(b) == [],
        "drift_extra": lambda r, b: all(len(row) == 13 for row in json.loads(b)),
    }
    for kind, check in cases.items():
        sim.set_faults(script(kind))
        async with http.get(url) as resp:
            assert check(resp, await resp.read()), kind
    sim.set_faults(script("api_error", "kraken"))
    _, body = await get_json(http, sim.base_urls["kraken"] + "/0/public/Ticker", pair="XBTUSD")
    assert body == {"error": ["EService:Unavailable"]}
    markets = sim.base_urls["coingecko"] + "/coins/markets?vs_currency=usd"
    sim.set_faults(script("nulls", "coingecko"))
    _, coins = await get_json(http, markets)
    assert all(c["market_cap_rank"] is None and c["roi"] is None for c in coins)
    assert all(c["current_price"] is not None for c in coins)
    sim.set_faults(script("drift_reorder", "coingecko"))
    _, coins = await get_json(http, markets)
    assert next(iter(coins[0])) == "last_updated" and list(coins[0])[-1] == "id"


def _not_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return True
    return False


async def test_transport_faults(sim: RunningSimulator) -> None:
    url = sim.base_urls["coinbase"] + "/products/BTC-USD/ticker"
    # aiohttp's client retries once on a dropped connection, so drop two in a row.
    sim.set_faults(script("disconnect", "coinbase", first_n=2))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(url) as resp:
                await resp.read()
    sim.set_faults(script("timeout", "coinbase", delay=2.0))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as session:
        with pytest.raises(asyncio.TimeoutError):
            async with session.get(url) as resp:
                await resp.read()
    sim.set_faults(script("latency", "coinbase", delay=0.3))
    async with aiohttp.ClientSession() as session:
        loop = asyncio.get_running_loop()
        began = loop.time()
        async with session.get(url) as resp:
            assert resp.status == 200
        assert loop.time() - began >= 0.3


async def test_probability_plan_is_reproducible(http: Http) -> None:
    plan = FaultPlan.parse("seed=5; binance:server_error:p=0.3; *:empty:p=0.2")
    assert plan == FaultPlan.from_dict(plan.to_dict())

    async def statuses() -> list[tuple[int, int]]:
        out = []
        async with run_simulator(SimulatorConfig(now=NOW, faults=plan)) as sim:
            for _ in range(40):
                async with http.get(sim.base_urls["binance"] + KLINES) as resp:
                    out.append((resp.status, len(await resp.read())))
        return out

    first, again = await statuses(), await statuses()
    assert first == again
    kinds = {s for s, _ in first}
    assert kinds == {200, 503} and any(n == 2 for _, n in first)  # some empty "[]"


async def test_real_rate_limit_then_binance_ban(http: Http) -> None:
    config = SimulatorConfig(now=NOW, rate_limits={"binance": 6, "coingecko": 2})
    async with run_simulator(config) as sim:
        seen = []
        for _ in range(8):
            async with http.get(sim.base_urls["binance"] + KLINES) as resp:
                seen.append((resp.status, resp.headers["X-MBX-USED-WEIGHT-1M"]))
        assert [s for s, _ in seen[:3]] == [200, 200, 200]
        assert seen[3][0] == 429 and seen[-1][0] == 418
        assert [int(w) for _, w in seen] == list(range(2, 17, 2))
        codes = []
        for _ in range(3):
            async with http.get(sim.base_urls["coingecko"] + "/global") as resp:
                codes.append(resp.status)
                assert resp.status == 200 or "retry-after" in resp.headers
        assert codes == [200, 200, 429]


async def test_admin_api_steers_an_out_of_process_simulator(
    sim: RunningSimulator, http: Http
) -> None:
    root = sim.root
    async with http.post(root + "/_admin/clock", json={"now": "2024-03-06T00:00:00Z"}) as r:
        assert (await r.json())["now"].startswith("2024-03-06T00:00:00")
    async with http.post(root + "/_admin/faults", json={"spec": "kraken:rate_limit:first=1"}) as r:
        assert (await r.json())["rules"][0]["kind"] == "rate_limit"
    _, body = await get_json(http, sim.base_urls["kraken"] + "/0/public/Ticker")
    assert body["error"] == ["EAPI:Rate limit exceeded"]
    async with http.post(root + "/_admin/faults", json={"spec": "kraken:oops"}) as r:
        assert r.status == 400
    async with http.post(root + "/_admin/faults", json={"rules": []}) as r:
        assert (await r.json())["rules"] == []
    _, log = await get_json(http, root + "/_admin/requests", source="kraken")
    assert [e["fault"] for e in log] == ["rate_limit"]
    assert log[0]["sim_now"] == 1709683200


async def test_ground_truth_equals_what_the_client_received(
    sim: RunningSimulator, http: Http
) -> None:
    url = sim.base_urls["binance"] + "/api/v3/klines"
    received: dict[tuple, list] = {}
    start = 1704067200000  # 2024-01-01
    for k in range(3):  # overlapping pages, then the newest page with the open candle
        _, rows = await get_json(
            http,
            url,
            symbol="ETHUSDT",
            interval="1h",
            limit="700",
            startTime=str(start + k * 500 * 3_600_000),
        )
        received.update({("ETHUSDT", "1h", r[0]): r for r in rows})
    _, rows = await get_json(http, url, symbol="ETHUSDT", interval="1h", limit="10")
    received.update({("ETHUSDT", "1h", r[0]): r for r in rows})
    sim.set_faults(script("drift_extra"))
    _, rows = await get_json(http, url, symbol="ETHUSDT", interval="1d", limit="2")
    received.update({("ETHUSDT", "1d", r[0]): r for r in rows})
    sim.set_faults(script("truncated"))
    async with http.get(url, params={"symbol": "ETHUSDT", "interval": "1d"}) as resp:
        await resp.read()  # not recorded: the client could not read it
    truth = sim.state.ground_truth("binance", "/api/v3/klines")
    assert truth == received
    _, admin = await get_json(
        http, sim.root + "/_admin/ground_truth", source="binance", endpoint="/api/v3/klines"
    )
    assert admin["count"] == len(received)
    # The open candle is replaced by its closed version once served closed.
    open_key = max(k for k in received if k[1] == "1h")
    sim.set_now(NOW.replace(hour=NOW.hour + 1))
    _, rows = await get_json(http, url, symbol="ETHUSDT", interval="1h", limit="3")
    closed = next(r for r in rows if r[0] == open_key[2])
    assert (
        sim.state.ground_truth("binance", "/api/v3/klines")[open_key]
        == closed
        != received[open_key]
    )


async def test_ground_truth_of_snapshots_and_other_candles(
    sim: RunningSimulator, http: Http
) -> None:
    b = sim.base_urls
    _, kr = await get_json(http, b["kraken"] + "/0/public/OHLC", pair="ETHUSD", interval="60")
    truth = sim.state.ground_truth("kraken", "/0/public/OHLC")
    assert truth == {("XETHZUSD", 60, r[0]): r for r in kr["result"]["XETHZUSD"]}
    _, cb = await get_json(http, b["coinbase"] + "/products/ETH-USD/candles", granularity="3600")
    assert sim.state.ground_truth("coinbase", "/products/{id}/candles") == {
        ("ETH-USD", 3600, r[0]): r for r in cb
    }
    _, mb = await get_json(
        http,
        b["mercadobitcoin"] + "/candles",
        symbol="ETH-BRL",
        resolution="1h",
        to=str(int(NOW.timestamp())),
        countback="5",
    )
    truth = sim.state.ground_truth("mercadobitcoin", "/candles")
    assert [rec["c"] for rec in truth.values()] == mb["c"]
    _, coins = await get_json(http, b["coingecko"] + "/coins/markets", vs_currency="usd")
    truth = sim.state.ground_truth("coingecko", "/coins/markets")
    assert sorted(truth.values(), key=lambda c: c["market_cap_rank"]) == coins
    _, fx = await get_json(http, b["fx"] + "/2024-01-01..2024-01-31", **{"from": "USD"})
    truth = sim.state.ground_truth("fx", "/{start}..{end}")
    assert truth == {("USD", d): r for d, r in fx["rates"].items()}


async def test_ground_truth_of_mercadobitcoins_symbols_is_each_whole_row(
    sim: RunningSimulator, http: Http
) -> None:
    # The body is parallel arrays, one per field: the truth of a symbol is its whole row
    # (every array's value at its index), which is what the loader stores as its record.
    _, body = await get_json(http, sim.base_urls["mercadobitcoin"] + "/symbols")
    truth = sim.state.ground_truth("mercadobitcoin", "/symbols")
    assert len(truth) == len(body["symbol"]) > 1
    for i, symbol in enumerate(body["symbol"]):
        assert truth[(symbol,)] == {name: values[i] for name, values in body.items()}
    assert truth[("BTC-BRL",)]["base-currency"] == "BTC"
