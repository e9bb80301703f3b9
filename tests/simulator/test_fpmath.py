"""The simulator's CPU-independent exp, log, cos and tanh against the C library's."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ingestion.simulator import fpmath


def _ulps(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got - want) / np.spacing(np.abs(want))))


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(20261203)


def test_exp_within_two_ulp(rng: np.random.Generator) -> None:
    x = np.concatenate([rng.uniform(-700.0, 700.0, 20_000), rng.uniform(-1.0, 1.0, 20_000)])
    assert _ulps(fpmath.exp(x), np.array([math.exp(v) for v in x])) <= 2.0
    assert fpmath.exp(0.0) == 1.0


def test_log_within_three_ulp(rng: np.random.Generator) -> None:
    x = np.concatenate(
        [
            np.exp(rng.uniform(-700.0, 700.0, 20_000)),
            rng.uniform(0.5, 2.0, 20_000),  # near 1, where log loses most
            rng.uniform(2.0**-53, 1.0, 20_000),  # Box-Muller's uniforms
        ]
    )
    assert _ulps(fpmath.log(x), np.array([math.log(v) for v in x])) <= 3.0
    assert fpmath.log(1.0) == 0.0


def test_cos_of_a_turn_within_1e_15(rng: np.random.Generator) -> None:
    u = np.concatenate([rng.uniform(0.0, 1.0, 50_000), [0.0, 0.25, 0.5, 0.75, 2.0**-53]])
    want = np.array([math.cos(2.0 * math.pi * v) for v in u])
    assert float(np.max(np.abs(fpmath.cos_2pi(u) - want))) < 1e-15
    assert fpmath.cos_2pi(0.5) == -1.0


def test_tanh_and_power(rng: np.random.Generator) -> None:
    x = rng.normal(0.0, 3.0, 20_000)
    assert float(np.max(np.abs(fpmath.tanh(x) - np.tanh(x)))) < 3e-16
    k = np.arange(1.0, 8193.0)
    assert _ulps(fpmath.power(0.999, k), np.array([0.999**v for v in k])) <= 16.0


def test_scalars_stay_scalars() -> None:
    assert isinstance(fpmath.exp(1.0), np.float64)
    assert fpmath.log(np.e) == pytest.approx(1.0, abs=1e-16)
