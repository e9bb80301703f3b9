"""Property tests of every parser: no body can crash one, whatever it holds.

Two kinds of input, thousands of examples per endpoint: arbitrary JSON, and the real saved
payloads of tests/fixtures with a few nodes mutated at random (``null``, a string for a
number, an empty object, a nested list, a key deleted…), which reach far deeper into each
parser than arbitrary JSON does. For every example, :func:`parse_page` returns (never
raises); the records it accepts have natural keys of the raw table's arity and types; and
the runner's collection step accounts for every record: loaded or quarantined.

Examples are derived from a fixed seed (``derandomize``), so CI runs the same examples
every time and a failure reproduces.
"""

from __future__ import annotations

import importlib
import json
import math
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.connectors.base import (
    EndpointSpec,
    Expected,
    ParseResult,
    PlannedRequest,
    Record,
    all_finite_numbers,
    parse_page,
)
from ingestion.connectors.registry import REGISTRY, get_endpoint
from ingestion.http import Response
from ingestion.run.pages import Coverage, Page, _holds_every_period, collect, coverages
from ingestion.run.results import EndpointStats
from ingestion.sinks.raw.rows import QuarantineRow, RawRow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FETCHED_AT = datetime(2025, 3, 1, 12, 30, 0, 123456, tzinfo=UTC)
# Hypothesis examples per test, each checking BODIES_PER_EXAMPLE bodies made from its
# random generator: 2,000 bodies per endpoint and kind, in about a second.
EXAMPLES = 200
BODIES_PER_EXAMPLE = 10


def _fixture(source: str, name: str) -> Any:
    return json.loads((FIXTURES / source / name).read_text(encoding="utf-8"))


# Shapes of the real API for the two endpoints without a saved sample (trimmed).
MARKET_CHART = {
    "prices": [[1709251200000, 61130.98], [1709337600000, 62387.91], [1709424000000, 62029.85]],
    "market_caps": [[1709251200000, 1.2e12], [1709337600000, 1.22e12], [1709424000000, 1.21e12]],
    "total_volumes": [[1709251200000, 3.1e10], [1709337600000, 2.9e10], [1709424000000, 2.7e10]],
}
TICKER_24HR = [
    {
        "symbol": "BTCUSDT",
        "priceChange": "-94.99",
        "priceChangePercent": "-0.15",
        "weightedAvgPrice": "61979.15",
        "prevClosePrice": "62101.01",
        "lastPrice": "62006.02",
        "lastQty": "0.0047",
        "bidPrice": "62006.01",
        "bidQty": "4.7",
        "askPrice": "62006.02",
        "askQty": "3.2",
        "openPrice": "62101.01",
        "highPrice": "62500.00",
        "lowPrice": "61400.00",
        "volume": "22042.77",
        "quoteVolume": "1366206131.43",
        "openTime": 1709164800000,
        "closeTime": 1709251199999,
        "firstId": 3450000000,
        "lastId": 3451000000,
        "count": 1000001,
    },
]
FX_SERIES = {
    "amount": 1.0,
    "base": "USD",
    "start_date": "2025-02-27",
    "end_date": "2025-02-28",
    "rates": {
        "2025-02-27": {"BRL": 5.81, "EUR": 0.9588},
        "2025-02-28": {"BRL": 5.87, "EUR": 0.9626},
    },
}

EXCHANGE_INFO = _fixture("binance", "exchange_info.json")
EXCHANGE_INFO["symbols"] = EXCHANGE_INFO["symbols"][1:3]  # BCCBTC (BREAK), BTCUSDT
ASSET_PAIRS = _fixture("kraken", "asset_pairs.json")
ASSET_PAIRS["result"] = {k: ASSET_PAIRS["result"][k] for k in ("XDGUSD", "XXBTZUSD")}

# (source, endpoint) -> (path, params, a real-shaped body) for every endpoint.
SEEDS: dict[tuple[str, str], list[tuple[str, dict[str, str], Any]]] = {
    ("coingecko", "markets"): [
        ("/coins/markets", {"vs_currency": "usd"}, _fixture("coingecko", "coins_markets.json"))
    ],
    ("coingecko", "global"): [("/global", {}, _fixture("coingecko", "global.json"))],
    ("coingecko", "market_chart"): [
        ("/coins/bitcoin/market_chart", {"vs_currency": "usd", "days": "3"}, MARKET_CHART)
    ],
    ("binance", "klines"): [
        (
            "/api/v3/klines",
            {"symbol": "BTCUSDT", "interval": "1d"},
            _fixture("binance", "klines_1d.json"),
        )
    ],
    ("binance", "ticker_24hr"): [("/api/v3/ticker/24hr", {"symbols": '["BTCUSDT"]'}, TICKER_24HR)],
    ("kraken", "ohlc"): [
        (
            "/0/public/OHLC",
            {"pair": "XBTUSD", "interval": "60", "since": "0"},
            _fixture("kraken", "ohlc_60.json"),
        )
    ],
    ("kraken", "ticker"): [
        ("/0/public/Ticker", {"pair": "XBTUSD"}, _fixture("kraken", "ticker.json"))
    ],
    ("coinbase", "candles"): [
        (
            "/products/ETH-USDT/candles",
            {"granularity": "86400"},
            _fixture("coinbase", "candles_86400.json"),
        )
    ],
    ("fear_greed", "fng"): [("/fng/", {"limit": "2"}, _fixture("fear_greed", "fng.json"))],
    ("fx", "rates"): [
        ("/latest", {"from": "EUR", "to": "USD"}, _fixture("fx", "latest.json")),
        ("/2025-02-27..2025-02-28", {"from": "USD", "to": "BRL,EUR"}, FX_SERIES),
    ],
    ("mercadobitcoin", "candles"): [
        (
            "/candles",
            {"symbol": "BTC-BRL", "resolution": "1h", "from": "0", "to": "0"},
            _fixture("mercadobitcoin", "candles_1h.json"),
        )
    ],
    ("mercadobitcoin", "tickers"): [
        ("/tickers", {"symbols": "BTC-BRL"}, _fixture("mercadobitcoin", "tickers.json"))
    ],
    # the listings (the two big samples cut to two entries: mutations cost per node)
    ("binance", "exchange_info"): [("/api/v3/exchangeInfo", {}, EXCHANGE_INFO)],
    ("kraken", "asset_pairs"): [("/0/public/AssetPairs", {}, ASSET_PAIRS)],
    ("coinbase", "products"): [("/products", {}, _fixture("coinbase", "products.json"))],
    ("mercadobitcoin", "symbols"): [("/symbols", {}, _fixture("mercadobitcoin", "symbols.json"))],
    ("coingecko", "coins_list"): [("/coins/list", {}, _fixture("coingecko", "coins_list.json"))],
}
ENDPOINTS = sorted(SEEDS)
IDS = [f"{source}/{endpoint}" for source, endpoint in ENDPOINTS]

# Leaves a mutation or a random document uses: the shapes that crashed parsers in the fuzz
# run (null, strings for numbers, huge and non-finite numbers, NUL) and ordinary ones.
LEAVES: tuple[Any, ...] = (
    None,
    "",
    "x",
    "abc",
    True,
    False,
    0,
    1,
    -1,
    1.5,
    10**30,
    2**63,
    -(2**70),
    1e308,
    math.inf,
    -math.inf,
    math.nan,
    "NaN",
    "1e999",
    "-1",
    "0",
    "1.5",
    "2024-01-01T00:00:00Z",
    "2024-13-45",
    "1700000000",
    "1700000000000",
    "\x00",
    "\u0000",
    "BTC-BRL",
)


def _keys_of(node: Any) -> set[str]:
    keys: set[str] = set()
    if isinstance(node, dict):
        keys.update(str(k) for k in node)
        for value in node.values():
            keys |= _keys_of(value)
    elif isinstance(node, list):
        for value in node:
            keys |= _keys_of(value)
    return keys


def random_json(rng: random.Random, vocabulary: list[str], depth: int = 0) -> Any:
    """A random JSON value; object keys mostly from ``vocabulary`` (the parser's own)."""
    roll = rng.random()
    if depth >= 4 or roll < 0.45:
        pick = rng.random()
        if pick < 0.6:
            return rng.choice(LEAVES)
        if pick < 0.8:
            return rng.randint(-(2**65), 2**65)
        return rng.uniform(-1e12, 1e12)
    if roll < 0.75:
        return [random_json(rng, vocabulary, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        (
            rng.choice(vocabulary)
            if vocabulary and rng.random() < 0.8
            else rng.choice(["", "x", "error", "data"])
        ): random_json(rng, vocabulary, depth + 1)
        for _ in range(rng.randint(0, 4))
    }


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``node`` (keys and indexes), the root included."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_paths(value, (*prefix, i)))
    return found


class Mutator:
    """Makes copies of one seed body with one to three nodes replaced, deleted or inserted.

    The seed's paths are listed once, and copies come from its JSON text (much faster
    than ``deepcopy``): a path an earlier mutation of the same copy removed is skipped."""

    def __init__(self, seed: Any, vocabulary: list[str]) -> None:
        self.text = json.dumps(seed)
        self.paths = _paths(seed)
        self.vocabulary = vocabulary

    def __call__(self, rng: random.Random) -> Any:
        body = json.loads(self.text)
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(self.paths)
            value = (
                json.loads(
                    rng.choice(["null", '""', '"x"', "{}", "[]", "[[]]", "[null]", '{"": null}'])
                )
                if rng.random() < 0.5
                else random_json(rng, self.vocabulary, depth=2)
            )
            if not path:
                body = value
                continue
            try:
                parent = body
                for step in path[:-1]:
                    parent = parent[step]
                how = rng.random()
                if how < 0.25:
                    del parent[path[-1]]
                elif how < 0.4 and isinstance(parent, list):
                    parent.insert(path[-1], value)
                else:
                    parent[path[-1]] = value
            except (KeyError, IndexError, TypeError):
                continue  # gone with an earlier mutation
        return body


PG_TYPES = {"text": str, "timestamptz": datetime, "date": date}


def check_page(spec: EndpointSpec, path: str, params: dict[str, str], body: Any) -> None:
    """The properties every parser has, whatever ``body`` is."""
    page = parse_page(spec, path, params, body, FETCHED_AT)  # must not raise
    table = spec.raw_table
    if page.error is not None:
        assert not page.result.records and page.error.startswith("unexpected body")
    for record in page.result.records:
        assert len(record.key) == len(table.keys), (record.key, table.key_names)
        for column, value in zip(table.keys, record.key, strict=True):
            assert isinstance(value, PG_TYPES[column.pg_type]), (column, value)
            if column.pg_type == "date":
                assert not isinstance(value, datetime), (column, value)
            elif column.pg_type == "timestamptz":
                assert isinstance(value, datetime), (column, value)
                assert value.tzinfo is not None, (column, value)
            else:
                assert value, (column, value)  # a natural key is never empty
    for rejected in page.result.rejected:
        assert rejected.reason
    rows: list[RawRow] = []
    quarantined: list[QuarantineRow] = []
    stats = EndpointStats(spec.source, spec.endpoint)
    response = Response(spec.source, spec.endpoint, path, params, 200, {}, "", body, FETCHED_AT)
    collect(
        spec,
        Page(PlannedRequest(path, params), response, page.result, "doc", page.error),
        rows,
        quarantined,
        stats,
    )  # must not raise
    # Every record is accounted for: one row to load, or one quarantined with a reason.
    assert stats.fetched == len(rows) + len(quarantined)
    for row in rows:
        json.loads(row.record_json)
    assert all(item.reason for item in quarantined)


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_every_endpoint_has_seed_bodies() -> None:
    assert set(SEEDS) == {(s.source, s.endpoint) for s in REGISTRY}


@pytest.mark.parametrize(("source", "endpoint"), ENDPOINTS, ids=IDS)
def test_the_seed_bodies_parse_cleanly(source: str, endpoint: str) -> None:
    """The unmutated seeds are valid: the mutations below start from good data."""
    spec = get_endpoint(source, endpoint)
    for path, params, body in SEEDS[(source, endpoint)]:
        page = parse_page(spec, path, params, body, FETCHED_AT)
        assert page.error is None and page.result.records and not page.result.rejected


BodyMaker = Callable[[random.Random], tuple[str, dict[str, str], Any]]


def fuzz(source: str, endpoint: str, make: Callable[[list[Any], list[str]], BodyMaker]) -> None:
    """Check :data:`EXAMPLES` x :data:`BODIES_PER_EXAMPLE` bodies from ``make(seeds, keys)``."""
    spec = get_endpoint(source, endpoint)
    seeds = SEEDS[(source, endpoint)]
    body_of = make(seeds, sorted(set().union(*(_keys_of(body) for _, _, body in seeds))))

    @FUZZ
    @given(seed=st.integers(0, 2**64))
    def run(seed: int) -> None:
        rng = random.Random(seed)  # Hypothesis' own random draws are far slower
        for _ in range(BODIES_PER_EXAMPLE):
            check_page(spec, *body_of(rng))

    run()


@pytest.mark.parametrize(("source", "endpoint"), ENDPOINTS, ids=IDS)
def test_mutated_real_payloads_never_crash_a_parser(source: str, endpoint: str) -> None:
    def make(seeds: list[Any], vocabulary: list[str]) -> BodyMaker:
        mutators = [(path, params, Mutator(body, vocabulary)) for path, params, body in seeds]

        def body_of(rng: random.Random) -> tuple[str, dict[str, str], Any]:
            path, params, mutator = rng.choice(mutators)
            return path, params, mutator(rng)

        return body_of

    fuzz(source, endpoint, make)


@pytest.mark.parametrize(("source", "endpoint"), ENDPOINTS, ids=IDS)
def test_arbitrary_json_never_crashes_a_parser(source: str, endpoint: str) -> None:
    def make(seeds: list[Any], vocabulary: list[str]) -> BodyMaker:
        def body_of(rng: random.Random) -> tuple[str, dict[str, str], Any]:
            path, params, _ = rng.choice(seeds)
            params = dict(params)
            if params and rng.random() < 0.1:  # a stored request with an odd parameter
                params[rng.choice(sorted(params))] = rng.choice(["", "x", "7", "-1"])
            return path, params, random_json(rng, vocabulary)

        return body_of

    fuzz(source, endpoint, make)


def test_one_null_element_quarantines_that_record_only() -> None:
    """The issue's first finding: a ``null`` in /coins/markets or in Fear & Greed's data."""
    markets = _fixture("coingecko", "coins_markets.json")
    page = parse_page(
        get_endpoint("coingecko", "markets"),
        "/coins/markets",
        {"vs_currency": "usd"},
        [*markets, None],
        FETCHED_AT,
    )
    assert page.error is None
    assert len(page.result.records) == len(markets)
    (rejected,) = page.result.rejected
    assert rejected.record is None and "AttributeError" in rejected.reason
    fng = _fixture("fear_greed", "fng.json")
    fng["data"].insert(0, None)
    page = parse_page(get_endpoint("fear_greed", "fng"), "/fng/", {"limit": "2"}, fng, FETCHED_AT)
    assert len(page.result.records) == 2 and len(page.result.rejected) == 1


def test_a_page_the_parser_cannot_read_is_quarantined_with_its_reason() -> None:
    spec = get_endpoint("kraken", "ohlc")
    # An interval the connector never asks for: the page, not one record, is at fault.
    page = parse_page(
        spec,
        "/0/public/OHLC",
        {"pair": "XBTUSD", "interval": "7"},
        _fixture("kraken", "ohlc_60.json"),
        FETCHED_AT,
    )
    assert page.error == "unexpected body: interval '7' is not one criptopipe loads"
    assert not page.result.records


CANDLE_ENDPOINTS = [
    ("binance", "klines", "valid_rows"),
    ("coinbase", "candles", "valid_rows"),
    ("kraken", "ohlc", "valid_rows"),
    ("mercadobitcoin", "candles", "valid_times"),
]


@pytest.mark.parametrize(
    ("source", "endpoint", "fast_path"), CANDLE_ENDPOINTS, ids=[c[0] for c in CANDLE_ENDPOINTS]
)
def test_the_candle_parsers_fast_path_gives_what_the_row_by_row_path_gives(
    source: str, endpoint: str, fast_path: str
) -> None:
    # Candle pages are checked a check at a time over the whole page (speed); a page with
    # anything odd goes row by row. Both must give the same records and rejections, for
    # the seed and its mutations alike.
    spec = get_endpoint(source, endpoint)
    module = importlib.import_module(f"ingestion.connectors.{source}")
    fast = getattr(module, fast_path)
    seeds = SEEDS[(source, endpoint)]
    mutators = [
        (path, params, Mutator(body, sorted(_keys_of(body)))) for path, params, body in seeds
    ]

    def both(path: str, params: dict[str, str], body: Any) -> tuple[str, str]:
        quick = parse_page(spec, path, params, body, FETCHED_AT)
        setattr(module, fast_path, lambda *args, **kwargs: None)
        try:
            slow = parse_page(spec, path, params, body, FETCHED_AT)
        finally:
            setattr(module, fast_path, fast)
        return repr(quick), repr(slow)

    for path, params, body in seeds:
        quick, slow = both(path, params, body)
        assert quick == slow

    @FUZZ
    @given(seed=st.integers(0, 2**64))
    def run(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(BODIES_PER_EXAMPLE):
            path, params, mutator = rng.choice(mutators)
            quick, slow = both(path, params, mutator(rng))
            assert quick == slow

    run()


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    first_minutes=st.integers(0, 5000),
    span_minutes=st.integers(-100, 5000),
    step_minutes=st.sampled_from([1, 5, 15, 60, 240, 1440]),
    fetched_minutes=st.integers(-100, 6000),
)
def test_the_periods_a_page_must_hold_are_counted_as_the_step_by_step_walk_finds_them(
    first_minutes: int, span_minutes: int, step_minutes: int, fetched_minutes: int
) -> None:
    # Expected.required counts the periods (speed) instead of stepping through them; the
    # step-by-step walk (still used with a calendar) is the reference.
    origin = datetime(2024, 1, 1, tzinfo=UTC)
    first = origin + timedelta(minutes=first_minutes)
    step = timedelta(minutes=step_minutes)
    expected = Expected(None, first, first + timedelta(minutes=span_minutes), step)
    fetched_at = origin + timedelta(minutes=fetched_minutes, seconds=7)
    walked, t = [], first
    while t <= expected.last and t + step <= fetched_at:
        walked.append(t)
        t += step
    assert expected.required(fetched_at) == walked
    every_day = Expected(None, expected.first, expected.last, step, calendar=lambda _: True)
    assert every_day.required(fetched_at) == walked


def _reference_coverage(
    records: list[Record], expected: Expected, fetched_at: datetime
) -> Coverage:
    """What a page holds of ``expected``, period by period (the definition)."""
    required = expected.required(fetched_at)
    if not required:
        return Coverage(None, [], None, None)
    have = {
        t
        for r in records
        if isinstance(t := r.key[-1], datetime)
        and (expected.series is None or r.key[:-1] == expected.series)
    }
    missing = [t for t in required if t not in have]
    return Coverage(required[0], missing, min(have, default=None), max(have, default=None))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    count=st.integers(0, 40),
    offsets=st.lists(st.integers(-3, 45), max_size=50),
    usual=st.booleans(),
    fetched_hours=st.integers(0, 50),
    other_series=st.booleans(),
)
def test_what_a_page_holds_is_what_comparing_period_by_period_finds(
    count: int, offsets: list[int], usual: bool, fetched_hours: int, other_series: bool
) -> None:
    # coverages() takes the usual page (one series, every period from the first on, evenly
    # spaced) without comparing periods one by one; any other page goes period by period.
    # Both must find the same: pages with holes, duplicates, records out of order, before
    # the first period, after the last, of another series, or fetched before the end.
    first = datetime(2024, 1, 1, tzinfo=UTC)
    step = timedelta(hours=1)
    series = ("BTCUSDT", "1h")
    expected = Expected(series, first, first + step * (count - 1), step)
    hours = list(range(count)) if usual else offsets
    times = [first + step * h for h in hours]
    records = [Record((*series, t), [h]) for h, t in zip(hours, times, strict=True)]
    if other_series:
        records.append(Record(("ETHUSDT", "1h", first), [0]))
    fetched_at = first + step * fetched_hours if not usual else first + step * (count + 1)
    found = coverages(records, [expected], fetched_at)
    if records:
        assert found == [_reference_coverage(records, expected, fetched_at)]
    if usual and count and not other_series:  # the usual page takes the quick way
        assert _holds_every_period(times, expected, fetched_at)
        assert found[0].missing == []


def test_a_page_of_evenly_spaced_records_that_ends_early_is_short() -> None:
    # Evenly spaced from the first period on, but one period short: not a full page.
    first = datetime(2024, 1, 1, tzinfo=UTC)
    step = timedelta(hours=1)
    expected = Expected(("BTCUSDT", "1h"), first, first + step * 9, step)
    times = [first + step * h for h in range(9)]
    records = [Record(("BTCUSDT", "1h", t), None) for t in times]
    fetched_at = first + step * 20
    assert not _holds_every_period(times, expected, fetched_at)
    (found,) = coverages(records, [expected], fetched_at)
    assert found.missing == [first + step * 9]
    assert (found.present_first, found.present_last) == (first, first + step * 8)


def test_a_pages_time_range_is_its_time_keys_whatever_the_key_holds() -> None:
    # The usual page's range comes from the keys' last column; a key holding a date before
    # its last column (or times that are not all datetimes) is read column by column.
    at = datetime(2024, 1, 1, tzinfo=UTC)
    usual = ParseResult([Record(("A", "1h", at + timedelta(hours=h)), None) for h in (3, 1, 2)])
    assert usual.time_range == (at + timedelta(hours=1), at + timedelta(hours=3))
    dated_head = ParseResult([Record((date(2023, 6, 1), "x"), None)])
    assert dated_head.time_range == (datetime(2023, 6, 1, tzinfo=UTC),) * 2
    days = ParseResult([Record(("EUR", date(2024, 1, d)), None) for d in (5, 2)])
    assert days.time_range == (datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 5, tzinfo=UTC))
    assert ParseResult([Record(("coin",), None)]).time_range == (None, None)


def _finite_by_float(numbers: list[Any]) -> bool:
    """The definition: each a finite number ``float`` reads, none a bool."""
    try:
        return not any(type(n) is bool for n in numbers) and all(
            math.isfinite(float(n)) for n in numbers
        )
    except (TypeError, ValueError):
        return False


NUMERIC_TEXT = st.text(alphabet='0123456789.,-+eE []"nNaIfity_ \n', max_size=8)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    numbers=st.lists(
        st.one_of(
            NUMERIC_TEXT,
            st.from_regex(r"-?[0-9]{1,25}(\.[0-9]{1,8})?([eE][-+]?[0-9]{1,3})?", fullmatch=True),
            st.floats(),
            st.integers(),
            st.booleans(),
            st.none(),
        ),
        max_size=6,
    )
)
def test_numbers_read_as_one_json_array_are_what_float_reads(numbers: list[Any]) -> None:
    # A page of numeric strings is checked by reading them as one JSON array (speed); a
    # text holding a comma, brackets, quotes, NaN, a number past a double's range, an
    # underscore or a space must not slip through: the result is float's, value by value.
    try:
        quick = all_finite_numbers(numbers)
    except (TypeError, ValueError):
        quick = False
    assert quick == _finite_by_float(numbers)
    texts = [n for n in numbers if isinstance(n, str)]
    if _finite_by_float(texts):  # the strings alone: the JSON read says so itself
        assert all_finite_numbers(texts)
