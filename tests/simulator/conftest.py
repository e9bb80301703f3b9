"""Fixtures for the simulator tests: a running simulator and an HTTP client.

Every test talks to the simulator over real HTTP on loopback (``run_simulator``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from simhelpers import NOW

from ingestion.simulator import RunningSimulator, SimulatorConfig, run_simulator


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(SimulatorConfig(now=NOW)) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session
