"""Small building blocks the pages share: empty states, charts with "as of", tables with CSV."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
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
