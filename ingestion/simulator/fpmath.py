"""exp, log, cos and tanh that give the same bits on every CPU.

NumPy picks its ``exp``, ``log``, ``cos``, ``tanh``, ``log1p`` and ``power`` loops by the
CPU it runs on (AVX-512, AVX2 or the baseline): their results agree to about an ulp but
not bit for bit. The simulator prints quote volumes with 8 decimals (17 significant
digits, as Binance does), so a one-ulp difference changed served bytes: the same seed
served other pages on a machine without AVX-512 (issue #18's CI run). These versions
use only the operations IEEE 754 rounds exactly (``+ - * /``, ``rint``, ``frexp``,
``ldexp``), each a separate NumPy pass (no fused multiply-add), so every CPU computes the
same bits. exp and log are accurate to 2 ulp over the finite doubles the simulator uses
(not subnormals, infinities or NaN); they take about 5 times as long as NumPy's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# ln 2 split so that k * LN2_HI is exact for |k| < 2**20 (fdlibm's constants)
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_SQRT_HALF = math.sqrt(0.5)
_TWO_PI = 2.0 * math.pi

# Taylor coefficients, highest first: 1/13! .. 1/0! for exp on |r| <= ln2/2 (the next term
# is below 5e-18), 1/21 .. 1/1 for atanh's odd series on |s| <= 0.1716 (log).
_EXP = tuple(1.0 / math.factorial(n) for n in range(13, -1, -1))
_ATANH = tuple(1.0 / (2 * n + 1) for n in range(10, -1, -1))
# cos on [0, pi/2]: (-1)^n / (2n)!, highest first (the next term is below 1e-19)
_COS = tuple((-1.0) ** n / math.factorial(2 * n) for n in range(12, -1, -1))


def _horner(coefficients: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    out = np.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        out *= x
        out += c
    return out


def _result(out: np.ndarray, scalar: bool) -> Any:
    return out[()] if scalar else out


def exp(x: Any) -> Any:
    """The exponential function, elementwise."""
    a = np.asarray(x, dtype=np.float64)
    k = np.rint(a * _INV_LN2)
    r = a - k * _LN2_HI
    r -= k * _LN2_LO
    p = _horner(_EXP, r)
    return _result(np.ldexp(p, np.clip(k, -1100, 1100).astype(np.int32)), a.ndim == 0)


def log(x: Any) -> Any:
    """The natural logarithm, elementwise (positive normal numbers)."""
    a = np.asarray(x, dtype=np.float64)
    m, e = np.frexp(a)  # a = m * 2**e, m in [0.5, 1)
    low = m < _SQRT_HALF
    m = np.where(low, m * 2.0, m)  # now in [sqrt(1/2), sqrt(2))
    k = (e - low).astype(np.float64)
    f = m - 1.0  # exact (Sterbenz)
    s = f / (f + 2.0)  # log(m) = 2 atanh(s)
    series = _horner(_ATANH, s * s)
    series *= s
    series *= 2.0
    series += k * _LN2_LO
    series += k * _LN2_HI
    return _result(series, a.ndim == 0)


def cos_2pi(u: Any) -> Any:
    """cos(2 pi u), elementwise, to within 1e-15: the turn ``u`` is reduced exactly first."""
    a = np.asarray(u, dtype=np.float64)
    t = np.abs(a - np.rint(a))  # the same cosine, t in [0, 1/2]
    flip = t > 0.25
    b = np.where(flip, 0.5 - t, t)  # cos(2 pi t) = -cos(2 pi (1/2 - t)); b in [0, 1/4]
    b *= _TWO_PI
    b *= b
    out = _horner(_COS, b)
    np.negative(out, out=out, where=flip)
    return _result(out, a.ndim == 0)


def tanh(x: Any) -> Any:
    """The hyperbolic tangent, elementwise, to within 3e-16 (absolute, not relative)."""
    a = np.asarray(x, dtype=np.float64)
    e = exp(-2.0 * np.abs(a))
    out = (1.0 - e) / (1.0 + e)
    return _result(np.where(a < 0.0, -out, out), a.ndim == 0)


def power(base: float, k: np.ndarray) -> np.ndarray:
    """``base ** k`` for a positive ``base``, elementwise over ``k``."""
    result: np.ndarray = exp(np.asarray(k, dtype=np.float64) * log(base))
    return result
