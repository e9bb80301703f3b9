"""``python -m ingestion.simulator --port 8765 [--host H] [--seed N] [--faults SPEC]``.

``--cache-replies`` serves a repeated request's reply again without rendering it anew;
``--coinbase-no-trade-rate R`` sets how many minutes of Coinbase's thinnest product have
no trade (so no candle; 0 turns the gaps off).
"""

from __future__ import annotations

import argparse
import logging

from ingestion.simulator.server import serve


def main(argv: list[str] | None = None) -> None:
    """Serve the simulator from the command line (``python -m ingestion.simulator``)."""
    parser = argparse.ArgumentParser(
        prog="python -m ingestion.simulator", description="Serve the offline API simulator."
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--faults", default=None, help='fault plan: JSON or "source:kind:p=0.1,first=2;..."'
    )
    parser.add_argument(
        "--cache-replies",
        action="store_true",
        help="serve the same bytes again for a request repeated at the same simulated time "
        "(no faults), without rendering them anew: benchmarks warm it up first",
    )
    parser.add_argument(
        "--coinbase-no-trade-rate",
        type=float,
        default=None,
        help="share of the minutes of Coinbase's thinnest product without a trade, which "
        "Coinbase sends no candle for (default 0.05; 0 turns the gaps off)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    serve(
        args.port,
        host=args.host,
        seed=args.seed,
        faults=args.faults,
        cache_replies=args.cache_replies,
        coinbase_no_trade_rate=args.coinbase_no_trade_rate,
    )


if __name__ == "__main__":
    main()
