"""Offline stand-in for every API criptopipe reads (see DESIGN.md, "Simulator").

One aiohttp app serves CoinGecko, Binance, Kraken, Coinbase Exchange, alternative.me,
Frankfurter and Mercado Bitcoin under their own prefixes, with the real response formats,
from deterministic seeded markets, and injects faults on demand.
"""

from ingestion.simulator.config import FaultPlan, FaultRule, PriceDivergence, SimulatorConfig
from ingestion.simulator.market import Candle, compute_candle
from ingestion.simulator.server import (
    RunningSimulator,
    create_app,
    run_simulator,
    serve,
    simulator_base_urls,
)
from ingestion.simulator.state import SimulatorState

__all__ = [
    "Candle",
    "FaultPlan",
    "FaultRule",
    "PriceDivergence",
    "RunningSimulator",
    "SimulatorConfig",
    "SimulatorState",
    "compute_candle",
    "create_app",
    "run_simulator",
    "serve",
    "simulator_base_urls",
]
