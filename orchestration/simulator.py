"""The simulator on a background thread, for synchronous callers (``criptopipe run``, tests).

Dagster executes assets synchronously and each ingestion asset runs its own event loop, so
the simulator gets an event loop of its own on a daemon thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ingestion.settings import SOURCES


@contextmanager
def background_simulator(config: Any = None, port: int = 0) -> Iterator[Any]:
    """Serve ``ingestion.simulator`` until the block ends; yields the ``RunningSimulator``."""
    from ingestion.simulator import SimulatorConfig, run_simulator

    ready = threading.Event()
    holder: dict[str, Any] = {}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        async with run_simulator(config or SimulatorConfig(), port=port) as sim:
            holder["sim"] = sim
            ready.set()
            await stop.wait()

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve())
        except BaseException as err:  # surface start-up errors to the caller
            holder["error"] = err
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="criptopipe-simulator", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the simulator did not start within 30 s")
    if "error" in holder:
        raise RuntimeError(f"the simulator failed to start: {holder['error']}")
    try:
        yield holder["sim"]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def base_url_env(base_urls: dict[str, str]) -> dict[str, str]:
    """``CRIPTOPIPE_<SOURCE>_BASE_URL`` for every source."""
    return {f"CRIPTOPIPE_{source.upper()}_BASE_URL": base_urls[source] for source in SOURCES}


def set_simulator_now(sim: Any, now: datetime | None) -> None:
    """Set the simulated clock from another thread (the state is plain data)."""
    sim.set_now(now)
