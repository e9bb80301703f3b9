"""The fast JSON paths (orjson) give exactly what the standard library gives, or defer to it."""

from __future__ import annotations

import json
import math

import pytest

from ingestion.http import decode_json
from ingestion.sinks.raw import copy_format as raw


def _decode(text: str) -> object:
    return decode_json(text.encode(), text)


def test_integers_past_64_bits_stay_exact_and_nan_is_read_as_the_stdlib_does() -> None:
    supply = 123456789012345678901234567890
    assert _decode(f'{{"total_supply": {supply}}}') == {"total_supply": supply}
    assert isinstance(_decode(f"[{2**64 + 1}]")[0], int)  # type: ignore[index]
    value = _decode('[NaN, 1e999, "x"]')
    assert isinstance(value, list) and math.isnan(value[0]) and value[1] == math.inf
    with pytest.raises(json.JSONDecodeError):
        _decode("<html>")
    assert decode_json(b'["Neutr\xe9"]', '["Neutr\ufffd"]') == ["Neutr\ufffd"]


@pytest.mark.parametrize(
    "record",
    [
        [1609459200000, "28923.63", "29600.00", 0.1, 1e-7, -0.0, 5e-324, 2**63],
        {"roi": None, "name": "é\u2028\t\n\\", "n": [1, 2.5]},
        [2**70, "big"],
    ],
)
def test_record_text_reads_back_to_the_same_value(record: object) -> None:
    assert json.loads(raw.dumps(record)) == record


def test_nan_and_infinity_are_refused_not_turned_into_null() -> None:
    for bad in ([math.nan], {"a": math.inf}, [None, -math.inf]):
        with pytest.raises(ValueError):
            raw.dumps(bad)
