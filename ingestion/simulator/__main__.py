"""``python -m ingestion.simulator --port 8765 [--host H] [--seed N] [--faults SPEC]``.

``--cache-replies`` serves a repeated request's reply again without rendering it anew.
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    serve(
        args.port,
        host=args.host,
        seed=args.seed,
        faults=args.faults,
        cache_replies=args.cache_replies,
    )


if __name__ == "__main__":
    main()
