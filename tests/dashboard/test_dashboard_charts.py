"""The pure figure builders and calculations, on small frames whose answers are known."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from dashboard import charts, currency, metrics

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def hourly(n: int = 3, quote: str = "USDT") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "open_at": [T0 + timedelta(hours=i) for i in range(n)],
            "close_at": [T0 + timedelta(hours=i + 1) for i in range(n)],
            "open_price": [100.0, 110.0, 105.0][:n],
            "high_price": [112.0, 115.0, 108.0][:n],
            "low_price": [99.0, 104.0, 100.0][:n],
            "close_price": [110.0, 105.0, 107.0][:n],
            "volume": [1.0, 2.0, 3.0][:n],
            "quote_currency": [quote] * n,
        }
    )


def test_candlestick_has_prices_and_coloured_volume() -> None:
    fig = charts.candlestick(hourly(), "BTC/USD", "USD")
    candle, volume = fig.data
    assert candle.type == "candlestick"
    assert list(candle.open) == [100.0, 110.0, 105.0]
    assert list(candle.close) == [110.0, 105.0, 107.0]
    assert volume.type == "bar" and list(volume.y) == [1.0, 2.0, 3.0]
    # up candle green, down candle red, by close against open
    assert list(volume.marker.color) == [charts.UP, charts.DOWN, charts.UP]
    assert fig.layout.title.text == "BTC/USD"
    assert fig.layout.yaxis.tickprefix == "$"


def test_the_open_candle_is_drawn_apart_as_provisional() -> None:
    frame = hourly().assign(is_closed=[True, True, False])
    closed, provisional, volume = charts.candlestick(frame, "BTC/EUR", "EUR").data
    assert list(closed.close) == [110.0, 105.0] and closed.name == "price (EUR)"
    assert list(provisional.close) == [107.0] and provisional.name == "open (provisional)"
    assert provisional.increasing.line.color == charts.PROVISIONAL
    assert list(volume.marker.color) == [charts.UP, charts.DOWN, charts.PROVISIONAL]


# USD rates in force per hour: BRL moves at T0 + 2 h (a publication), EUR is flat.
RATES = {
    "BRL": {
        T0 + timedelta(hours=1): 5.0,
        T0 + timedelta(hours=2): 5.5,
        T0 + timedelta(hours=3): 6.0,
    },
    "EUR": {T0 + timedelta(hours=h): 0.9 for h in (1, 2, 3)},
}


def rates_in_force(currency_code: str, instants: pd.Series) -> pd.Series:
    hours = currency.hours(instants)
    table = pd.Series(RATES.get(currency_code, {}), dtype=float)
    table.index = pd.to_datetime(table.index, utc=True)
    return hours.map(table).astype(float)


def test_each_candle_converts_at_the_rate_in_force_at_its_close() -> None:
    frame = hourly()
    shown = currency.convert(
        frame,
        ["close_price"],
        "BRL",
        at=frame["close_at"],
        quotes=frame["quote_currency"],
        rates=rates_in_force,
    )
    assert list(shown["close_price"]) == pytest.approx([550.0, 577.5, 642.0])
    # an instant inside an hour takes that hour's rate, never the next one
    late = frame["close_at"] + timedelta(minutes=59)
    inside = currency.convert(
        frame, ["close_price"], "BRL", at=late, quotes=frame["quote_currency"], rates=rates_in_force
    )
    assert list(inside["fx_factor"]) == [5.0, 5.5, 6.0]


def test_brl_quotes_convert_through_usd_and_stay_put_in_brl() -> None:
    frame = hourly(quote="BRL")
    at = frame["close_at"]
    usd = currency.convert(frame, ["close_price"], "USD", at=at, quotes="BRL", rates=rates_in_force)
    assert list(usd["close_price"]) == pytest.approx([22.0, 105 / 5.5, 107 / 6.0])
    eur = currency.convert(frame, ["close_price"], "EUR", at=at, quotes="BRL", rates=rates_in_force)
    assert list(eur["close_price"]) == pytest.approx(
        [110 * 0.9 / 5, 105 * 0.9 / 5.5, 107 * 0.9 / 6.0]
    )
    brl = currency.convert(frame, ["close_price"], "BRL", at=at, quotes="BRL", rates=rates_in_force)
    assert list(brl["close_price"]) == [110.0, 105.0, 107.0]


def test_a_missing_rate_gives_no_price_rather_than_a_wrong_one() -> None:
    frame = hourly()
    before_rates = frame["close_at"] - timedelta(hours=1)  # T0 has no rate yet
    converted = currency.convert(
        frame, ["close_price"], "BRL", at=before_rates, rates=rates_in_force
    )
    assert converted["close_price"].isna().tolist() == [True, False, False]
    unknown = currency.convert(
        frame, ["close_price"], "JPY", at=frame["close_at"], rates=rates_in_force
    )
    assert unknown["close_price"].isna().all()
    same = currency.convert(
        frame, ["close_price"], "USD", at=frame["close_at"], quotes="USDT", rates=rates_in_force
    )
    assert list(same["close_price"]) == [110.0, 105.0, 107.0]


def test_money_in_any_currency() -> None:
    assert metrics.format_money(1.5e12, "R$") == "R$1.50T"
    assert metrics.format_money(2500.0, "", "CHF") == "2,500.00 CHF"
    assert metrics.format_usd(1234.5) == "$1,234.50"


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0, "Extreme Fear"),
        (24, "Extreme Fear"),
        (25, "Fear"),
        (50, "Neutral"),
        (60, "Greed"),
        (80, "Extreme Greed"),
        (100, "Extreme Greed"),
    ],
)
def test_fear_greed_bands(value: int, band: str) -> None:
    assert charts.fear_greed_band(value)[0] == band


def test_fear_greed_gauge_shows_value_band_and_delta() -> None:
    fig = charts.fear_greed_gauge(72, previous=65)
    indicator = fig.data[0]
    assert indicator.value == 72
    assert indicator.title.text == "Greed"
    assert indicator.delta.reference == 65
    assert tuple(indicator.gauge.steps[0].range) == (0, 25)
    assert charts.fear_greed_gauge(10).data[0].mode == "gauge+number"


def test_fear_greed_history_with_btc_return_bars() -> None:
    frame = pd.DataFrame(
        {
            "sentiment_date": [date(2025, 3, 1), date(2025, 3, 2)],
            "fear_greed_value": [40, 60],
            "btc_simple_return": [-0.02, 0.03],
        }
    )
    line, bars = charts.fear_greed_history(frame).data
    assert list(line.y) == [40, 60]
    assert list(bars.y) == pytest.approx([-2.0, 3.0])
    assert list(bars.marker.color) == [charts.DOWN, charts.UP]


def test_top_movers_sorted_best_on_top_and_coloured_by_sign() -> None:
    frame = pd.DataFrame({"asset_id": ["BTC", "ETH", "SOL"], "change_pct": [1.5, -3.0, 4.2]})
    bar = charts.top_movers(frame).data[0]
    # horizontal bars draw bottom-up: the last is on top
    assert list(bar.y) == ["ETH", "BTC", "SOL"]
    assert list(bar.marker.color) == [charts.DOWN, charts.UP, charts.UP]
    assert list(bar.text) == ["-3.00%", "+1.50%", "+4.20%"]


def test_returns_and_drawdown_compound_returns_per_asset() -> None:
    frame = pd.DataFrame(
        {
            "asset_id": ["BTC"] * 3 + ["ETH"] * 3,
            "price_date": [date(2025, 3, d) for d in (1, 2, 3)] * 2,
            "simple_return": [None, 0.10, -0.10, None, 0.0, 0.5],
            "drawdown": [0.0, 0.0, -0.10, 0.0, 0.0, 0.0],
        }
    )
    fig = charts.returns_and_drawdown(frame)
    btc_return, btc_drawdown, eth_return, _ = fig.data
    assert list(btc_return.y) == pytest.approx([0.0, 10.0, -1.0])  # 1.1 * 0.9 - 1
    assert list(btc_drawdown.y) == pytest.approx([0.0, 0.0, -10.0])
    assert list(eth_return.y) == pytest.approx([0.0, 0.0, 50.0])
    assert btc_return.name == "BTC" and eth_return.name == "ETH"


def test_volatility_in_percent_per_asset_and_window() -> None:
    frame = pd.DataFrame(
        {
            "asset_id": ["BTC", "BTC"],
            "price_date": [date(2025, 3, 1), date(2025, 3, 2)],
            "volatility_7d": [0.5, 0.6],
            "volatility_30d": [None, 0.45],
        }
    )
    fig = charts.volatility(frame, "volatility_30d")
    assert list(fig.data[0].y)[1] == pytest.approx(45.0)
    assert "30-day" in fig.layout.title.text
    assert "7-day" in charts.volatility(frame, "volatility_7d").layout.title.text


def test_correlation_matrix_is_symmetric_with_unit_diagonal() -> None:
    pairs = pd.DataFrame(
        {
            "asset_id": ["BTC", "ETH", "BTC"],
            "other_asset_id": ["ETH", "BTC", "SOL"],
            "correlation_30d": [0.8, 0.8, None],  # BTC/SOL: too few observations
        }
    )
    matrix = charts.correlation_matrix(pairs)
    assert list(matrix.index) == ["BTC", "ETH", "SOL"]
    assert matrix.loc["BTC", "ETH"] == matrix.loc["ETH", "BTC"] == 0.8
    assert (matrix.to_numpy().diagonal() == 1).all()
    assert math.isnan(matrix.loc["BTC", "SOL"]) and math.isnan(matrix.loc["SOL", "BTC"])
    heatmap = charts.correlation_heatmap(pairs).data[0]
    assert (heatmap.zmin, heatmap.zmax) == (-1, 1)
    assert heatmap.text[0][2] == ""  # no number printed where there is no correlation
    assert heatmap.text[0][1] == "0.80"


def test_spread_range_counts_each_hour_once_and_deviation_per_exchange() -> None:
    frame = pd.DataFrame(
        {
            "asset_id": ["BTC"] * 4,
            "open_at": [T0, T0, T0 + timedelta(hours=1), T0 + timedelta(hours=1)],
            "exchange_id": ["binance", "kraken"] * 2,
            "deviation_bps": [-5.0, 5.0, -2.0, 2.0],
            "spread_bps": [10.0, 10.0, 4.0, 4.0],
        }
    )
    (spread,) = charts.spread_range(frame).data
    assert list(spread.y) == [10.0, 4.0]
    two_assets = pd.concat([frame, frame.assign(asset_id="ETH", deviation_bps=[1.0, -1.0] * 2)])
    deviation = charts.deviation_from_consensus(two_assets)
    # one panel per asset, one trace per exchange in each, the legend once per exchange
    assert [(t.name, t.yaxis) for t in deviation.data] == [
        ("binance", "y"),
        ("kraken", "y"),
        ("binance", "y2"),
        ("kraken", "y2"),
    ]
    assert [t.showlegend for t in deviation.data] == [True, True, False, False]
    assert list(deviation.data[1].y) == [5.0, 2.0]
    assert deviation.data[0].line.color == charts.EXCHANGE_COLOURS["binance"]


def test_brazil_premium_one_line_per_asset() -> None:
    frame = pd.DataFrame(
        {
            "asset_id": ["BTC", "ETH", "BTC"],
            "open_at": [T0, T0, T0 + timedelta(hours=1)],
            "premium_pct": [1.0, 0.5, 1.2],
        }
    )
    fig = charts.brazil_premium(frame)
    assert [t.name for t in fig.data] == ["BTC", "ETH"]
    assert list(fig.data[0].y) == [1.0, 1.2]


def test_freshness_colours_follow_status() -> None:
    frame = pd.DataFrame(
        {
            "source_name": ["binance", "kraken", "fx", "coinbase"],
            "endpoint_name": ["klines", "ohlc", "rates", "candles"],
            "hours_since_fetch": [0.5, 5.0, 30.0, None],
            "freshness_status": ["fresh", "warn", "error", "never_loaded"],
        }
    )
    frame["warn_after_hours"] = 3.0
    frame["error_after_hours"] = 12.0
    warn, error, ages = charts.freshness(frame).data
    colours = dict(zip(ages.y, ages.marker.color, strict=True))
    assert colours["binance / klines"] == charts.UP
    assert colours["kraken / ohlc"] == charts.STATUS_COLOURS["warn"]
    assert colours["fx / rates"] == charts.DOWN
    assert colours["coinbase / candles"] == charts.NEUTRAL
    assert dict(zip(ages.y, ages.x, strict=True))["coinbase / candles"] == 0
    assert dict(zip(ages.y, ages.text, strict=True))["fx / rates"] == "error"
    assert set(warn.x) == {3.0} and set(error.x) == {12.0}


def test_market_cap_history_and_caps() -> None:
    frame = pd.DataFrame(
        {
            "snapshot_at": [T0, T0 + timedelta(hours=1)],
            "total_market_cap_usd": [2e12, 2.1e12],
            "btc_dominance_pct": [55.0, 56.0],
            "eth_dominance_pct": [17.0, 16.5],
        }
    )
    fig = charts.market_cap_history(frame)
    assert [t.name for t in fig.data] == [
        "Total market cap (USD)",
        "BTC dominance (%)",
        "ETH dominance (%)",
    ]
    assert fig.data[1].yaxis == "y2"
    caps = charts.market_caps(
        pd.DataFrame({"asset_id": ["ETH", "BTC"], "market_cap_usd": [4e11, 1.2e12]})
    )
    assert list(caps.data[0].x) == ["BTC", "ETH"]


def test_market_cap_by_asset_history_stacks_one_trace_per_asset() -> None:
    days = [T0.date(), (T0 + timedelta(days=1)).date()]
    frame = pd.DataFrame(
        {
            "price_date": days * 2,
            "asset_id": ["BTC", "BTC", "ETH", "ETH"],
            "market_cap_usd": [1.2e12, 1.3e12, 4e11, 3.9e11],
        }
    )
    fig = charts.market_cap_by_asset_history(frame)
    assert [t.name for t in fig.data] == ["BTC", "ETH"]
    assert {t.stackgroup for t in fig.data} == {"market_cap"}
    assert list(fig.data[1].y) == [4e11, 3.9e11]


# --- metrics ---------------------------------------------------------------------------------
def test_kpi_latest_value_and_change_over_24_hours() -> None:
    frame = pd.DataFrame(
        {
            "snapshot_at": [T0, T0 + timedelta(hours=12), T0 + timedelta(hours=25)],
            "value": [10.0, 11.0, 13.0],
        }
    )
    kpi = metrics.kpi(frame, "snapshot_at", "value")
    assert kpi.value == 13.0
    assert kpi.delta == 3.0  # against T0, the last point at least 24 h older
    assert kpi.as_of == T0 + timedelta(hours=25)
    assert metrics.kpi(frame.head(2), "snapshot_at", "value").delta is None
    assert metrics.kpi(pd.DataFrame(), "snapshot_at", "value") == metrics.Kpi(None, None, None)


def test_drawdown_table() -> None:
    frame = pd.DataFrame(
        {
            "asset_id": ["BTC"] * 3,
            "price_date": [date(2025, 3, d) for d in (1, 2, 3)],
            "close_price_usd": [100.0, 80.0, 90.0],
            "simple_return": [None, -0.2, 0.125],
            "drawdown": [0.0, -0.2, -0.1],
            "volatility_30d": [None, None, 0.5],
        }
    )
    row = metrics.drawdown_table(frame).iloc[0]
    assert row["max_drawdown_pct"] == pytest.approx(-20.0)
    assert row["max_drawdown_date"] == date(2025, 3, 2)
    assert row["current_drawdown_pct"] == pytest.approx(-10.0)
    assert row["period_return_pct"] == pytest.approx(-10.0)
    assert row["volatility_30d_pct"] == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("value", "text"),
    [(2.345e12, "$2.35T"), (4.5e10, "$45.00B"), (1.2e6, "$1.20M"), (12.5, "$12.50"), (None, "-")],
)
def test_format_usd(value: float | None, text: str) -> None:
    assert metrics.format_usd(value) == text


def test_a_long_hourly_range_sends_at_most_5000_points_a_trace_and_keeps_its_spikes() -> None:
    """Two years of hours on the Cross-exchange page: thinned, the extremes still there."""
    import numpy as np

    hours = pd.date_range("2023-01-01", periods=2 * 8760, freq="h", tz=UTC)
    rng = np.random.default_rng(7)
    frames = []
    for exchange_id in ("binance", "coinbase"):
        deviation = rng.normal(0, 5, len(hours))
        frames.append(
            pd.DataFrame(
                {
                    "asset_id": "BTC",
                    "open_at": hours,
                    "exchange_id": exchange_id,
                    "deviation_bps": deviation,
                    "spread_bps": np.abs(deviation) * 2,
                    "premium_pct": deviation / 10,
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    frame.loc[12_345, "spread_bps"] = 999.0  # one spike, an hour like any other
    frame.loc[12_345, "deviation_bps"] = -500.0
    figures = (
        charts.spread_range(frame),
        charts.deviation_from_consensus(frame),
        charts.brazil_premium(frame[frame["exchange_id"] == "binance"]),
    )
    for figure in figures:
        assert all(2_000 < len(trace.x) <= 5_000 for trace in figure.data)
    assert max(charts.spread_range(frame).data[0].y) == 999.0
    binance = next(t for t in charts.deviation_from_consensus(frame).data if t.name == "binance")
    assert min(binance.y) == -500.0
    assert list(binance.x) == sorted(binance.x)


def test_coloured_bars_send_what_validated_bars_send() -> None:
    """The per-bar colours skip plotly's per-value validation (~80 ms for 4 k bars): the
    figure the browser gets is the same JSON as the validated trace's."""
    import plotly.graph_objects as go
    import plotly.io as pio

    x = pd.date_range("2025-03-01", periods=300, freq="min", tz="UTC")
    y = [float(i % 7) for i in range(300)]
    colours = [charts.UP if v > 3 else charts.DOWN for v in y]
    fast = go.Figure(charts.style.coloured_bars(colours, x=x, y=y, name="volume", opacity=0.6))
    checked = go.Figure(go.Bar(x=x, y=y, name="volume", opacity=0.6, marker_color=colours))
    assert pio.to_json(fast, validate=False) == pio.to_json(checked, validate=False)
    assert list(fast.data[0].marker.color) == colours


def test_a_figure_is_built_once_for_the_same_data() -> None:
    """A page's later runs with the same frames get the figure back unvalidated from its
    JSON (ui.figure): the browser gets the same JSON; other data build a new figure."""
    import json

    import plotly.io as pio

    from dashboard import ui

    built: list[int] = []

    def candles(frame: pd.DataFrame, title: str, currency: str) -> Any:
        built.append(len(frame))
        return charts.candlestick(frame, title, currency)

    ui.clear_figures()
    first = ui.figure(candles, hourly(), "BTC/USD", "USD")
    again = ui.figure(candles, hourly(), "BTC/USD", "USD")  # an equal frame, a new object
    assert built == [3]
    assert json.loads(pio.to_json(again, validate=False)) == json.loads(
        pio.to_json(first, validate=False)
    )
    other = ui.figure(candles, hourly(2), "BTC/USD", "USD")
    assert built == [3, 2] and len(other.data[0].x) == 2
    ui.figure(candles, hourly(), "BTC/EUR", "EUR")  # another argument
    assert built == [3, 2, 3]
    ui.clear_figures()
