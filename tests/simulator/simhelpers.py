"""Helpers for the simulator tests: real API samples, a shape comparator, HTTP helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures"  # copies of ../shared/fixtures
# A fixed clock in the middle of an hour: 2024-03-05 12:30:15 UTC (a Tuesday).
NOW = datetime(2024, 3, 5, 12, 30, 15, tzinfo=UTC)


def sample(name: str) -> Any:
    """A real API response saved under tests/fixtures (e.g. "binance/klines_1d.json")."""
    return json.loads((SAMPLES / name).read_text())


def assert_shape(
    expected: Any,
    actual: Any,
    path: str = "$",
    maps: frozenset[str] = frozenset(
        {"result", "rates", "total_market_cap", "total_volume", "market_cap_percentage"}
    ),
) -> None:
    """Fail unless ``actual`` has the shape of the real sample ``expected``.

    Objects: same keys in the same order (objects under a name in ``maps`` are keyed by
    data, e.g. Kraken's pair keys, so only their values are compared). Arrays: rows of mixed
    types (a kline) are compared position by position and must have the same length;
    homogeneous arrays are compared element by element with the sample's first element.
    Scalars: same JSON type (int and float both count as numbers; strings stay strings);
    null in the sample means "null or a value" (an optional field).
    """
    if expected is None:
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected object, got {type(actual).__name__}"
        if path.rsplit(".", 1)[-1] in maps:
            if expected and actual:
                first = next(iter(expected.values()))
                for key, value in actual.items():
                    assert_shape(expected.get(key, first), value, f"{path}.{key}", maps)
            return
        assert list(actual) == list(expected), f"{path}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            assert_shape(expected[key], actual[key], f"{path}.{key}", maps)
        return
    if isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected array, got {type(actual).__name__}"
        if expected and all(isinstance(e, list) for e in expected):  # rows
            for i, row in enumerate(actual):
                assert isinstance(row, list), f"{path}[{i}]: expected a row"
                assert len(row) == len(expected[0]), f"{path}[{i}]: {len(row)} fields"
                for j, (e, a) in enumerate(zip(expected[0], row, strict=True)):
                    assert_shape(e, a, f"{path}[{i}][{j}]", maps)
            return
        if len({_kind(x) for x in expected}) > 1:  # a row of mixed types: positional
            assert len(actual) == len(expected), f"{path}: row length {len(actual)}"
            for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
                assert_shape(e, a, f"{path}[{i}]", maps)
            return
        if expected:
            template = expected[0]
            if all(isinstance(e, dict) for e in expected):  # nullable if null in any sample
                template = {
                    k: None if any(e.get(k, 0) is None for e in expected) else v
                    for k, v in expected[-1].items()
                }
            for i, item in enumerate(actual):
                like = expected[i] if i < len(expected) else template
                if isinstance(like, dict) and isinstance(template, dict):
                    like = {k: template.get(k, v) for k, v in like.items()}
                assert_shape(like, item, f"{path}[{i}]", maps)
        return
    assert _kind(actual) == _kind(expected), (
        f"{path}: {actual!r} is {_kind(actual)}, the API sends {_kind(expected)}"
    )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


async def get_json(http: aiohttp.ClientSession, url: str, **params: Any) -> tuple[int, Any]:
    async with http.get(url, params=params or None) as resp:
        return resp.status, json.loads(await resp.read())


Http = aiohttp.ClientSession
