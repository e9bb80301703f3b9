"""The simulated timeline and its seeded random streams.

Hour and day indices count from ``EPOCH0`` over the supported span (2015 to 2040).
Random numbers come from a counter-based hash (splitmix64 over ``(stream, index)``), so
the noise of any index is computed in O(1) without generating what came before;
:func:`ou_path` turns a stream into a mean-reverting (Ornstein-Uhlenbeck) path.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import numpy as np

from ingestion.simulator import fpmath

EPOCH0 = datetime(2015, 1, 1, tzinfo=UTC)
EPOCH0_S = int(EPOCH0.timestamp())
SPAN_END = datetime(2040, 1, 1, tzinfo=UTC)
N_HOURS = int((SPAN_END - EPOCH0).total_seconds()) // 3600
N_DAYS = N_HOURS // 24
HOUR = 3600
DAY = 86400

_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_M1 = _U64(0xBF58476D1CE4E5B9)
_M2 = _U64(0x94D049BB133111EB)


def stream_key(seed: int, *parts: object) -> int:
    """A 64-bit stream id for (seed, parts): stable across processes and Python versions."""
    text = "\x1f".join([str(seed), *map(str, parts)]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def _mix(x: np.ndarray) -> np.ndarray:
    x = x + _GOLDEN
    x = (x ^ (x >> _U64(30))) * _M1
    x = (x ^ (x >> _U64(27))) * _M2
    return x ^ (x >> _U64(31))


def uniform(key: int, idx: np.ndarray | int) -> np.ndarray:
    """Uniform numbers in (0, 1), one per index, from stream ``key``."""
    arr = np.atleast_1d(np.asarray(idx, dtype=np.int64)).astype(np.uint64)
    x = _mix(arr ^ _U64(key))
    return ((x >> _U64(11)).astype(np.float64) + 0.5) / 9007199254740992.0


def normal(key: int, idx: np.ndarray | int) -> np.ndarray:
    """Standard normal numbers (Box-Muller over two uniform streams)."""
    u1 = uniform(key, idx)
    u2 = uniform(key ^ 0x5DEECE66D, idx)
    return np.sqrt(-2.0 * fpmath.log(u1)) * fpmath.cos_2pi(u2)


def ou_path(eps: np.ndarray, sigma: float, theta: float) -> np.ndarray:
    """Ornstein-Uhlenbeck path y[0]=0, y[t] = a*y[t-1] + sigma*eps[t-1] (vectorised in chunks)."""
    a = 1.0 - theta
    out = np.empty(len(eps) + 1)
    out[0] = 0.0
    chunk = max(16, min(8192, int(20.0 / theta)))
    y0 = 0.0
    pos = 0
    while pos < len(eps):
        e = eps[pos : pos + chunk] * sigma
        k = np.arange(1, len(e) + 1, dtype=np.float64)
        ak = fpmath.power(a, k)
        y = ak * (y0 + np.cumsum(e / ak))
        out[pos + 1 : pos + 1 + len(e)] = y
        y0 = float(y[-1])
        pos += len(e)
    return out
