"""A page's view of its reads (ui.derived) is worked out once per set of reads, and a page
drawn again from its kept view shows exactly what it showed when it worked it out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from pipeline import Warehouse
from streamlit.testing.v1 import AppTest

from dashboard import currency, data, ui

PRICE = "select %(price)s::float8 as price"


def test_a_view_is_worked_out_once_per_read(
    empty_database: str, use_database: Callable[[str], None]
) -> None:
    use_database(empty_database)
    ui.clear_figures()
    built: list[float] = []

    def doubled(frame: pd.DataFrame, factor: float) -> float:
        built.append(factor)
        return float(frame["price"].iloc[0]) * factor

    first = data.read_market(PRICE, {"price": 2.0})
    assert data.read_id(first) is not None
    assert data.read_id(data.read_market(PRICE, {"price": 2.0})) == data.read_id(first)
    assert data.read_id(pd.DataFrame({"price": [2.0]})) is None

    assert ui.derived(doubled, data.read_market(PRICE, {"price": 2.0}), 2.0) == 4.0
    assert ui.derived(doubled, data.read_market(PRICE, {"price": 2.0}), 2.0) == 4.0
    assert built == [2.0]  # the same read: the view kept
    assert ui.derived(doubled, data.read_market(PRICE, {"price": 2.0}), 3.0) == 6.0
    assert ui.derived(doubled, data.read_market(PRICE, {"price": 5.0}), 2.0) == 10.0
    assert built == [2.0, 3.0, 2.0]  # another choice, another query: worked out

    data.clear_cache()  # "Refresh data": the query runs again, a new read
    assert ui.derived(doubled, data.read_market(PRICE, {"price": 2.0}), 2.0) == 4.0
    assert built == [2.0, 3.0, 2.0, 2.0]

    # a frame not read through the cache is compared by content
    assert ui.derived(doubled, pd.DataFrame({"price": [1.0]}), 2.0) == 2.0
    assert ui.derived(doubled, pd.DataFrame({"price": [1.0]}), 2.0) == 2.0
    assert ui.derived(doubled, pd.DataFrame({"price": [7.0]}), 2.0) == 14.0
    assert built == [2.0, 3.0, 2.0, 2.0, 2.0, 2.0]
    ui.clear_figures()


def _drawn(at: AppTest) -> list[Any]:
    """Everything the page sent: texts, tiles, every chart's JSON, the tables' rows."""
    assert not at.exception, at.exception
    drawn: list[Any] = [
        [str(e.value) for e in getattr(at, kind)]
        for kind in ("title", "subheader", "caption", "info", "markdown")
    ]
    drawn.append([(m.label, m.value, m.proto.delta) for m in at.metric])
    drawn.append([json.loads(chart.proto.spec) for chart in at.get("plotly_chart")])
    drawn.append([frame.value.to_dict("list") for frame in at.dataframe])
    return drawn


def test_the_market_overview_is_drawn_again_from_its_view(
    on_demo_warehouse: Warehouse,
    open_page: Callable[..., AppTest],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A later run on the same reads converts nothing again and draws the same page; another
    currency is worked out (and kept) for itself."""
    ui.clear_figures()
    conversions: list[str] = []
    convert = currency.convert

    def counted(frame: pd.DataFrame, columns: Any, shown_in: str, **kwargs: Any) -> Any:
        conversions.append(shown_in)
        return convert(frame, columns, shown_in, **kwargs)

    monkeypatch.setattr(currency, "convert", counted)
    at = open_page("market_overview")
    in_usd = _drawn(at)
    assert conversions and set(conversions) == {"USD"}
    worked_out = len(conversions)

    at.run()
    assert _drawn(at) == in_usd and len(conversions) == worked_out

    at.segmented_control(key="_filter.currency").set_value("EUR").run()
    in_eur = _drawn(at)
    assert in_eur != in_usd and "EUR" in str(in_eur)
    assert conversions[worked_out:] and set(conversions[worked_out:]) == {"EUR"}

    at.segmented_control(key="_filter.currency").set_value("USD").run()
    assert _drawn(at) == in_usd
    at.segmented_control(key="_filter.currency").set_value("EUR").run()
    assert _drawn(at) == in_eur and len(conversions) == 2 * worked_out
    ui.clear_figures()
