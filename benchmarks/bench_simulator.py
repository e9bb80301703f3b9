"""How fast the simulator serves candles: Binance klines 1h, limit=1000, over loopback.

The simulator runs in its own process (one core, one event loop); the client runs here with
a few concurrent requests, walking through two years of history for several symbols so both
the first (render) pass and warm (cached) passes are measured.

    uv run python benchmarks/bench_simulator.py [--seconds 5] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import time
from datetime import UTC, datetime

import aiohttp

from ingestion.simulator import SimulatorConfig, create_app

NOW = datetime(2024, 6, 1, 12, 30, tzinfo=UTC)
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")


def _serve(port: int) -> None:
    from aiohttp import web

    web.run_app(
        create_app(SimulatorConfig(now=NOW)),
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=lambda _msg: None,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _wait_ready(root: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(root + "/_admin/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise RuntimeError("simulator did not start")


async def _run(root: str, seconds: float, concurrency: int) -> tuple[int, int, float]:
    start_ms = int(datetime(2022, 1, 1, tzinfo=UTC).timestamp() * 1000)
    windows = [(s, start_ms + k * 1000 * 3_600_000) for s in SYMBOLS for k in range(21)]
    candles = requests = 0
    deadline = time.perf_counter() + seconds
    url = root + "/binance/api/v3/klines"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(offset: int) -> None:
            nonlocal candles, requests
            i = offset
            while time.perf_counter() < deadline:
                symbol, start = windows[i % len(windows)]
                params = {
                    "symbol": symbol,
                    "interval": "1h",
                    "startTime": str(start),
                    "limit": "1000",
                }
                async with session.get(url, params=params) as resp:
                    body = await resp.read()
                candles += body.count(b"],[") + 1
                requests += 1
                i += concurrency

        began = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        return candles, requests, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    port = _free_port()
    ctx = multiprocessing.get_context("spawn")
    server = ctx.Process(target=_serve, args=(port,), daemon=True)
    server.start()
    root = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(_wait_ready(root))
        candles, requests, elapsed = asyncio.run(_run(root, args.seconds, args.concurrency))
    finally:
        server.terminate()
        server.join()
    print(
        f"binance klines 1h limit=1000: {requests} requests, {candles} candles in "
        f"{elapsed:.2f} s -> {candles / elapsed:,.0f} candles/s "
        f"({requests / elapsed:,.0f} requests/s), server on one core"
    )


if __name__ == "__main__":
    main()
