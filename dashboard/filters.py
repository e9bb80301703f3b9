"""The sidebar filters every page shares: assets, date range and display currency.

Widgets are tied to the page that draws them, so their values would be lost on the way to
another page. Each filter therefore keeps its value under a permanent Session State key
(``filter.assets`` …) and its widget (``_filter.assets`` …) is re-seeded from it on every
page: choose BTC on the Asset page and the Risk page opens on BTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import streamlit as st

from dashboard import currency as fx
from dashboard import data

DEFAULT_ASSETS = ("BTC", "ETH", "SOL")
DEFAULT_DAYS = 90

ASSETS_KEY = "filter.assets"
DATES_KEY = "filter.dates"
CURRENCY_KEY = "filter.currency"


@dataclass(frozen=True)
class Filters:
    """The sidebar's choices, as every page reads them.

    Attributes:
        assets: the chosen asset ids (``BTC`` ...).
        start: first day of the date range.
        end: last day of the date range.
        currency: the display currency.
    """

    assets: tuple[str, ...]
    start: date
    end: date
    currency: str


def _widget_key(key: str) -> str:
    return f"_{key}"


def _seed(key: str, default: object) -> None:
    """Put the permanent value (or the default) into the widget's key before it is drawn."""
    if key not in st.session_state:
        st.session_state[key] = default
    st.session_state[_widget_key(key)] = st.session_state[key]


def _keep(key: str) -> None:
    st.session_state[key] = st.session_state[_widget_key(key)]


def sidebar(*, currency: bool = True, dates: bool = True) -> Filters:
    """Draw the shared filters in the sidebar and return the current choice."""
    known = data.assets()
    asset_ids = tuple(known["asset_id"]) if not known.empty else DEFAULT_ASSETS
    span = data.data_date_range()
    last_day = span[1] if span else date.today()
    first_day = span[0] if span else last_day - timedelta(days=365)
    default_start = max(first_day, last_day - timedelta(days=DEFAULT_DAYS))

    with st.sidebar:
        st.header("Filters")
        _seed(ASSETS_KEY, [a for a in DEFAULT_ASSETS if a in asset_ids] or list(asset_ids[:3]))
        # An asset chosen earlier but gone from the marts is dropped rather than an error.
        st.session_state[_widget_key(ASSETS_KEY)] = [
            a for a in st.session_state[_widget_key(ASSETS_KEY)] if a in asset_ids
        ]
        st.multiselect(
            "Assets",
            options=asset_ids,
            key=_widget_key(ASSETS_KEY),
            on_change=_keep,
            args=(ASSETS_KEY,),
        )
        if dates:
            _seed(DATES_KEY, (default_start, last_day))
            st.date_input(
                "Date range",
                min_value=first_day,
                max_value=last_day,
                key=_widget_key(DATES_KEY),
                on_change=_keep,
                args=(DATES_KEY,),
            )
        if currency:
            currencies = fx.display_currencies()
            _seed(CURRENCY_KEY, fx.BASE)
            if st.session_state[_widget_key(CURRENCY_KEY)] not in currencies:
                st.session_state[_widget_key(CURRENCY_KEY)] = fx.BASE
            st.segmented_control(
                "Currency",
                options=currencies,
                key=_widget_key(CURRENCY_KEY),
                on_change=_keep,
                args=(CURRENCY_KEY,),
                help=(
                    "Prices are converted at the ECB rate in force at each point in time "
                    "(the newest one published by then, 16:00 CET), never a later one."
                ),
            )
        if st.button("Refresh data", icon=":material/refresh:"):
            data.clear_cache()

    chosen_dates = st.session_state.get(DATES_KEY, (default_start, last_day))
    start, end = _date_pair(chosen_dates, default_start, last_day)
    return Filters(
        assets=tuple(st.session_state[ASSETS_KEY]),
        start=start,
        end=end,
        currency=st.session_state.get(CURRENCY_KEY) or fx.BASE,
    )


def _date_pair(value: object, default_start: date, default_end: date) -> tuple[date, date]:
    """A (start, end) pair from the date input, which gives one date while a range is picked."""
    if isinstance(value, tuple | list):
        if len(value) == 2:
            return value[0], value[1]
        if len(value) == 1:
            return value[0], value[0]
    if isinstance(value, date):
        return value, value
    return default_start, default_end
