"""The offline simulator: ``criptopipe simulator`` and the one way other commands use it.

``criptopipe simulator`` serves in the foreground until Ctrl-C. Every other command that
wants simulated APIs (``run --simulator``, ``run/ui --simulator-url``, ``demo``) goes
through :func:`simulated_apis`: a simulator someone already runs, or one served on a
background thread of this process for as long as the command lasts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

import typer

from orchestration.cli.common import console


def simulator(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Seed of the synthetic markets.")] = 42,
    faults: Annotated[
        str | None, typer.Option(help="Fault plan (see ingestion/simulator docs), e.g. 'chaos'.")
    ] = None,
    coinbase_no_trade_rate: Annotated[
        float | None,
        typer.Option(
            help="Share of the minutes of Coinbase's thinnest product without a trade, "
            "which Coinbase sends no candle for (default 0.05; 0 turns the gaps off)."
        ),
    ] = None,
) -> None:
    """Serve every API offline with real formats (the demo, the tests and the benchmarks use it)."""
    from ingestion.simulator.server import serve

    console.print(f"simulator on http://{host}:{port} (seed {seed}); Ctrl-C stops it")
    serve(
        port=port,
        host=host,
        seed=seed,
        faults=faults,
        coinbase_no_trade_rate=coinbase_no_trade_rate,
    )


@contextlib.contextmanager
def simulated_apis(
    *, serve: bool = False, url: str | None = None, port: int = 0
) -> Iterator[dict[str, str] | None]:
    """Base URL per source of a simulator for the ``with`` block, or ``None`` for real APIs.

    Args:
        serve: Serve a simulator in this process (a background thread) for the block.
        url: The root URL of a simulator that already runs (wins over ``serve``).
        port: The port to serve on when ``serve`` (0 = any free port).

    Yields:
        ``{source: base URL}`` of the simulator, or ``None`` when neither is asked for.
    """
    if url:
        from ingestion.simulator import simulator_base_urls

        yield simulator_base_urls(url)
        return
    if not serve:
        yield None
        return
    from orchestration.simulator import background_simulator

    with background_simulator(port=port) as sim:
        console.print(f"simulator: serving every API offline on {sim.root}", highlight=False)
        yield sim.base_urls
