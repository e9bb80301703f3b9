"""The simulator's candle responses, byte for byte: pinned SHA-256 digests of a sample.

Tests elsewhere compare pipelines against the simulator's exact data, and the
benchmarks' figures are only comparable run to run if the simulator serves the same
bytes: a change that makes serving faster must not change one byte. The sample covers
each exchange's candle format (Binance, Coinbase, Kraken, Mercado Bitcoin), hourly,
daily and minute intervals, pages that cross the simulator's 1000-candle cache blocks,
the still-open candle and a configured price divergence. The digests were first taken from the
simulator before its candle paths were optimised (issue #18), and taken again when its
exp, log and cos became the CPU-independent ones of ``ingestion.simulator.fpmath``
(NumPy's own differ in the last bit between AVX-512, AVX2 and baseline machines, which
changed Binance's 8-decimal quote volumes); a failure here means the served bytes changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from simhelpers import NOW

from ingestion.simulator import PriceDivergence, RunningSimulator, SimulatorConfig, run_simulator

DAY = datetime(2024, 3, 5, tzinfo=UTC)
MS_2023 = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp() * 1000)
S_2023 = MS_2023 // 1000

NOW_S = int(NOW.timestamp())


def _mb(symbol: str, resolution: str, span_s: int) -> dict[str, str]:
    """Mercado Bitcoin's newest ``span_s`` seconds of candles (the open one included)."""
    return {
        "symbol": symbol,
        "resolution": resolution,
        "from": str(NOW_S - span_s),
        "to": str(NOW_S),
    }


# (source, path, params) of each sampled request; the newest pages include the open candle.
REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    ("binance", "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1h", "limit": "1000"}),
    (
        "binance",
        "/api/v3/klines",
        {"symbol": "ETHUSDT", "interval": "1h", "startTime": str(MS_2023), "limit": "1000"},
    ),
    ("binance", "/api/v3/klines", {"symbol": "SOLUSDT", "interval": "1d", "limit": "400"}),
    ("binance", "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": "1000"}),
    ("binance", "/api/v3/klines", {"symbol": "XRPUSDT", "interval": "4h", "limit": "300"}),
    (
        "coinbase",
        "/products/BTC-USD/candles",
        {
            "granularity": "3600",
            "start": datetime(2023, 1, 1, tzinfo=UTC).isoformat(),
            "end": datetime(2023, 1, 13, 11, tzinfo=UTC).isoformat(),
        },
    ),
    ("coinbase", "/products/ETH-USD/candles", {"granularity": "3600"}),
    ("coinbase", "/products/DOGE-USD/candles", {"granularity": "86400"}),
    ("coinbase", "/products/BTC-USD/candles", {"granularity": "300"}),
    ("kraken", "/0/public/OHLC", {"pair": "XBTUSD", "interval": "60"}),
    ("kraken", "/0/public/OHLC", {"pair": "ETHUSD", "interval": "1440"}),
    ("kraken", "/0/public/OHLC", {"pair": "XBTUSD", "interval": "15"}),
    (
        "mercadobitcoin",
        "/candles",
        {
            "symbol": "BTC-BRL",
            "resolution": "1h",
            "from": str(S_2023),
            "to": str(S_2023 + 1000 * 3600),
        },
    ),
    ("mercadobitcoin", "/candles", _mb("ETH-BRL", "1h", 1000 * 3600)),
    ("mercadobitcoin", "/candles", _mb("SOL-BRL", "1d", 400 * 86400)),
    ("mercadobitcoin", "/candles", _mb("BTC-BRL", "1m", 1000 * 60)),
]

DIVERGENCES = (
    PriceDivergence("kraken", DAY + timedelta(hours=9), DAY + timedelta(hours=11), 300.0),
    PriceDivergence(
        "binance", DAY - timedelta(days=3), DAY + timedelta(hours=13), -150.0, asset="BTC"
    ),
)

EXPECTED: dict[bool, list[str]] = {
    False: [
        "608c0668251a0383",
        "fabf2e32f093b407",
        "8eeac773bde6c3d9",
        "99bdaf7ae94073e7",
        "62847b1550e5071c",
        "3c5119c1e9e8caff",
        "99998d5bca04e1e1",
        "a1e48ecc2fa98ac1",
        "29a59280b269ab27",
        "f4fc7cd980878617",
        "23db635721035a45",
        "8001d3c1caf666b9",
        "35da1d825effb5c2",
        "e22ac1444cf635d2",
        "af8797b7ca9337e4",
        "7123dd5261bb3a94",
    ],
    True: [
        "92186f308d3c65c9",
        "fabf2e32f093b407",
        "8eeac773bde6c3d9",
        "f2f7fbf7ed9eee08",
        "62847b1550e5071c",
        "3c5119c1e9e8caff",
        "99998d5bca04e1e1",
        "a1e48ecc2fa98ac1",
        "29a59280b269ab27",
        "652d2255dea0c9ed",
        # Kraken's open ETH day holds the hours diverged 09:00-11:00 (before the day
        # candle was left as the plain one, the same bytes as without divergences)
        "5a18d534e65b4bb6",
        "f932a33511d320ff",
        "35da1d825effb5c2",
        "e22ac1444cf635d2",
        "af8797b7ca9337e4",
        "7123dd5261bb3a94",
    ],
}


async def _fetch_digests(sim: RunningSimulator, http: aiohttp.ClientSession) -> list[str]:
    out: list[str] = []
    for source, path, params in REQUESTS:
        async with http.get(sim.base_urls[source] + path, params=params) as response:
            body = await response.read()
            assert response.status == 200, (source, path, params, body[:200])
        out.append(hashlib.sha256(body).hexdigest()[:16])
    return out


async def _digests(diverged: bool) -> list[str]:
    config = SimulatorConfig(now=NOW, seed=7, divergences=DIVERGENCES if diverged else ())
    async with (
        run_simulator(config) as sim,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
    ):
        return await _fetch_digests(sim, http)


@pytest.mark.parametrize("diverged", [False, True], ids=["plain", "diverged"])
async def test_candle_responses_are_byte_identical(diverged: bool) -> None:
    assert await _digests(diverged) == EXPECTED[diverged]


async def test_cached_replies_are_the_same_bytes_and_a_new_clock_renders_anew() -> None:
    # cache_replies (the benchmarks' pre-rendered pages): a request repeated at the same
    # simulated time gets the very bytes it got first, from the cache; at another time the
    # pages are rendered anew (the newest pages hold the still-open candle: they change).
    config = SimulatorConfig(now=NOW, seed=7, cache_replies=True)
    async with (
        run_simulator(config) as sim,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
    ):
        assert await _fetch_digests(sim, http) == EXPECTED[False]
        assert len(sim.state.replies) == len(REQUESTS)
        assert await _fetch_digests(sim, http) == EXPECTED[False]
        assert len(sim.state.replies) == len(REQUESTS)  # all served from the cache
        sim.set_now(NOW + timedelta(minutes=30))
        later = await _fetch_digests(sim, http)
    assert len(sim.state.replies) == 2 * len(REQUESTS)
    assert later != EXPECTED[False] and later[1] == EXPECTED[False][1]  # a closed page alike


def _dispatched_features() -> list[str]:
    """The CPU feature groups NumPy dispatches to on this machine beyond its baseline."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    return [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]


_DIGESTS_SCRIPT = """
import asyncio, json, sys
sys.path[:0] = sys.argv[1:]
import test_sim_candle_bytes as t
print(json.dumps([asyncio.run(t._digests(False)), asyncio.run(t._digests(True))]))
"""


def test_the_bytes_do_not_depend_on_the_cpu_numpy_dispatches_to() -> None:
    # A machine without AVX-512 (or AVX2) must serve the very same bytes: run the sample in
    # a process whose NumPy is held to its baseline loops (NPY_DISABLE_CPU_FEATURES).
    features = _dispatched_features()
    if not features:
        pytest.skip("NumPy dispatches to no CPU feature beyond its baseline on this machine")
    here = os.path.dirname(__file__)
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(features)}
    done = subprocess.run(
        [sys.executable, "-c", _DIGESTS_SCRIPT, here, os.path.dirname(here)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    plain, diverged = json.loads(done.stdout.splitlines()[-1])
    assert plain == EXPECTED[False]
    assert diverged == EXPECTED[True]
