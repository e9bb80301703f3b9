"""Small building blocks the pages share: empty states, charts with "as of", tables with CSV."""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

from dashboard import data

NO_DATA = "No data yet — run `make demo`"


def require_warehouse() -> data.WarehouseStatus:
    """Stop the page with the empty state when there is no warehouse or no mart yet."""
    status = data.warehouse_status()
    if not status.ready:
        st.info(
            f"**{NO_DATA}** to build the warehouse from the offline simulator "
            f"(or `make run` for the live APIs).\n\nWhy: {status.reason}.",
            icon="📭",
        )
        st.stop()
    return status


def empty(what: str, hint: str = "run `make demo`") -> None:
    """The empty state of one chart or table: what is missing and what to run."""
    st.info(f"No {what} yet — {hint}.", icon="📭")


def as_of_text(as_of: datetime | date | pd.Timestamp | None) -> str:
    """The "as of ..." caption for a chart: a UTC minute for a time, the day for a date."""
    if as_of is None or pd.isna(as_of):
        return "as of: unknown"
    if isinstance(as_of, pd.Timestamp):
        as_of = as_of.to_pydatetime()
    if isinstance(as_of, datetime):
        if as_of.tzinfo is not None:
            as_of = as_of.astimezone(data.now_utc().tzinfo)
        return f"as of {as_of:%Y-%m-%d %H:%M} UTC"
    return f"as of {as_of:%Y-%m-%d}"


MAX_FIGURES = 64  # built figures kept (the JSON of each, a few hundred kB at most)
_figures: OrderedDict[tuple[Any, ...], str] = OrderedDict()
_figures_lock = threading.Lock()


def _fingerprint(value: object) -> object:
    """What identifies a figure builder's argument: a frame by its content, else the value.

    Raises:
        TypeError: The value cannot be fingerprinted (the figure is then built every time).
    """
    if isinstance(value, pd.DataFrame):
        content = pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes()
        return ("frame", tuple(value.columns), tuple(map(str, value.dtypes)), content)
    if isinstance(value, tuple | list):
        return tuple(_fingerprint(v) for v in value)
    if value is None or isinstance(value, str | int | float | date | datetime | pd.Timestamp):
        return value
    raise TypeError(f"no fingerprint for {type(value).__name__}")


def _kept_spec(
    builder: Callable[..., go.Figure], args: tuple[Any, ...]
) -> tuple[go.Figure | None, str]:
    """The JSON of ``builder(*args)``, kept; with the figure when it was built just now."""
    try:
        key = (builder.__module__, builder.__qualname__, _fingerprint(args))
    except (TypeError, ValueError):  # an argument without a fingerprint: no reuse
        fig = builder(*args)
        return fig, pio.to_json(fig, validate=False)
    with _figures_lock:
        spec = _figures.get(key)
        if spec is not None:
            _figures.move_to_end(key)
    if spec is not None:
        return None, spec
    fig = builder(*args)
    spec = pio.to_json(fig, validate=False)
    with _figures_lock:
        _figures[key] = spec
        while len(_figures) > MAX_FIGURES:
            _figures.popitem(last=False)
    return fig, spec


def figure(builder: Callable[..., go.Figure], *args: Any) -> go.Figure:
    """``builder(*args)``, built once for the same arguments (frames compared by content).

    Building a figure validates every property plotly is given (tens of ms for a chart of a
    few thousand points); a page's later runs with the same data (a warm visit, a widget
    elsewhere on the page) get the figure back from its JSON instead, unvalidated: the same
    JSON reaches the browser (``tests/dashboard/test_dashboard_charts.py``).
    """
    fig, spec = _kept_spec(builder, args)
    return fig if fig is not None else go.Figure(json.loads(spec), _validate=False)


def sent_figure(builder: Callable[..., go.Figure], *args: Any) -> go.Figure:
    """As :func:`figure`, always as the browser gets it: the figure rebuilt from its JSON.

    A figure as built holds its points as numpy arrays, which ``st.plotly_chart`` encodes
    again on every run it is drawn (milliseconds a chart); rebuilt from its JSON it holds
    them encoded already. For figures kept across runs (a view of :func:`derived`).
    """
    _, spec = _kept_spec(builder, args)
    return go.Figure(json.loads(spec), _validate=False)


def clear_figures() -> None:
    """Forget every figure :func:`figure` kept, and every view :func:`derived` kept."""
    with _figures_lock:
        _figures.clear()
        _derived.clear()


MAX_DERIVED = 16  # views kept (a page's converted frames, tiles and figures each)
_derived: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
View = TypeVar("View")


def _read_fingerprint(value: object) -> object:
    """As :func:`_fingerprint`, but a frame as read is known by its read (``data.read_id``)."""
    if isinstance(value, pd.DataFrame) and (read := data.read_id(value)) is not None:
        return ("read", read)
    if isinstance(value, tuple | list):
        return tuple(_read_fingerprint(v) for v in value)
    return _fingerprint(value)


def derived(builder: Callable[..., View], *args: Any) -> View:
    """``builder(*args)``, worked out once for the same reads: a page's view of its data.

    What a page makes of its reads (prices converted into the display currency, KPI tiles,
    figures) takes tens of milliseconds of pandas and plotly on every run; its later runs
    on the same reads (a warm visit, a widget elsewhere on the page) get the view back.
    Frames are known by their read (:func:`dashboard.data.read_id`), which is new when the
    query cache queries again (its TTL, "Refresh data"): pass them as ``data.*`` returned
    them, unchanged. A frame that was not read through the cache is compared by content.

    The view is shared by every later run and session with the same reads: nothing may
    change it (``st.plotly_chart`` and ``st.dataframe`` only read what they are given).

    Args:
        builder: What makes the view of the reads, a function of ``args`` alone.
        *args: The reads and the choices (the display currency, ...) it depends on.

    Returns:
        The view.
    """
    try:
        key = (builder.__module__, builder.__qualname__, _read_fingerprint(args))
    except (TypeError, ValueError):  # an argument without a fingerprint: no reuse
        return builder(*args)
    with _figures_lock:
        found = key in _derived
        if found:
            _derived.move_to_end(key)
            view: View = _derived[key]
    if found:
        return view
    view = builder(*args)
    with _figures_lock:
        _derived[key] = view
        while len(_derived) > MAX_DERIVED:
            _derived.popitem(last=False)
    return view


def chart(fig: go.Figure, as_of: datetime | date | pd.Timestamp | None, key: str) -> None:
    """A Plotly chart with how fresh its data is underneath."""
    st.plotly_chart(fig, width="stretch", key=key)
    st.caption(as_of_text(as_of))


def table(
    frame: pd.DataFrame,
    name: str,
    as_of: datetime | date | pd.Timestamp | None = None,
    column_config: dict[str, Any] | None = None,
) -> None:
    """A table with a CSV download of exactly what is shown."""
    st.dataframe(frame, width="stretch", hide_index=True, column_config=column_config)
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    left, right = st.columns([3, 1])
    with left:
        if as_of is not None:
            st.caption(as_of_text(as_of))
    with right:
        st.download_button(
            "Download CSV",
            # made on click, not on every run of the page: tables can be large
            data=lambda: frame.to_csv(index=False),
            file_name=f"{slug}.csv",
            mime="text/csv",
            key=f"download_{slug}",
            icon=":material/download:",
        )


def latest(frame: pd.DataFrame, column: str) -> datetime | date | None:
    """The newest value of a time or date column (the "as of" of a chart), or None."""
    if frame.empty or column not in frame:
        return None
    value = frame[column].dropna().max()
    if value is None or pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value
