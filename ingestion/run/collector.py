"""Python's cyclic garbage collector, paced for a run's millions of short-lived objects.

A run makes a few objects per record (its key, row, JSON text, times) and drops most of
them soon after, by reference counting; with Python's default thresholds (700, 10, 10)
the collector still scans the young objects every 700 allocations and, with a batch of
rows alive, the whole heap every few batches: about a quarter of the ingestion process's
CPU in ``benchmarks/bench_ingestion.py`` (1.0 of 3.9 s). During a run the thresholds are
raised, so the collector runs a few times instead of a thousand; cycles are still
collected, and the process's own thresholds come back when the last run ends.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

# Net allocations before a young collection, and young (then middle) collections before
# an older one: a full collection every 10 million or so net allocations.
RUN_THRESHOLDS = (50_000, 20, 10)

_active = 0  # runs in this process that are inside fewer_collections()
_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the collector's thresholds for the block; the last block out restores them.

    Runs may overlap in one process (concurrent tasks): the first in saves the process's
    thresholds, the last out puts them back.
    """
    global _active, _saved
    if _active == 0:
        _saved = gc.get_threshold()
        gc.set_threshold(*RUN_THRESHOLDS)
    _active += 1
    try:
        yield
    finally:
        _active -= 1
        if _active == 0 and _saved is not None:
            gc.set_threshold(*_saved)
            _saved = None
