"""The fast JSON paths (orjson) give exactly what the standard library gives, or defer to it."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.http import decode_json, has_long_number
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


@given(
    st.lists(st.sampled_from([b"0", b"7", b"9", b".", b"-", b"e", b",", b'"', b"a", b"/", b":"]))
)
def test_the_long_number_check_finds_exactly_the_runs_of_20_digits(parts: list[bytes]) -> None:
    # The check that sends a body to the standard library is a byte translation, not a
    # regular expression (speed); it must find exactly what ``\d{20}`` finds.
    body = b"".join(parts) * 3
    assert has_long_number(body) == bool(re.search(rb"[0-9]{20}", body))


def test_the_long_number_check_at_its_edges() -> None:
    assert not has_long_number(b"[1234567890123456789, 1.2345678901234567]")  # 19 digits
    assert has_long_number(b"[12345678901234567890]")
    assert has_long_number(b'{"s": "0.00000000000000000001"}')  # 20 digits, in a string too
    assert not has_long_number(b"[\xd9\xb0\xd9\xb1" * 20 + b"]")  # non-ASCII bytes: not digits


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(alphabet=st.sampled_from('ab\\"\x00\n\t\u2028é0nul')),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=12,
)


@settings(max_examples=50, deadline=None)
@given(st.lists(JSON_VALUES, max_size=6))
def test_a_page_of_records_at_once_is_each_record_as_dumps_writes_it(records: list[object]) -> None:
    # dumps_all writes a whole page at once (speed), or gives None for a page that needs
    # dumps' per-record care; whenever it answers, it answers what dumps would.
    texts = raw.dumps_all(records)
    if texts is None:
        return
    assert texts == [raw.dumps(record) for record in records]
    assert all(raw.jsonb_problem(text) is None for text in texts)


def test_a_page_of_records_needing_care_goes_record_by_record() -> None:
    assert raw.dumps_all([["1.5", 2], {"a": "b"}]) == ['["1.5",2]', '{"a":"b"}']
    for page in ([[1], [math.nan]], [[None]], [[2**64]], [["nul \x00"]]):
        assert raw.dumps_all(page) is None
