"""Figures of the Data health and Lake pages: freshness per source, the lake's volume."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.style import NEUTRAL, STATUS_COLOURS, layout


def freshness(frame: pd.DataFrame) -> go.Figure:
    """How old each source endpoint's newest rows are, against its warn and error thresholds.

    One row per endpoint: a dot at the hours since rows were last loaded, coloured by its
    freshness status, and the thresholds as ticks (amber: warn after, red: error after).
    An endpoint that never loaded shows its status at zero. Expects source_name,
    endpoint_name, hours_since_fetch, freshness_status; warn_after_hours and
    error_after_hours when known.
    """
    ordered = frame.sort_values(["source_name", "endpoint_name"], ascending=False)
    labels = ordered["source_name"] + " / " + ordered["endpoint_name"]
    statuses = ordered["freshness_status"].astype(str).str.lower()
    fig = go.Figure()
    for column, name, colour in (
        ("warn_after_hours", "warn after", STATUS_COLOURS["warn"]),
        ("error_after_hours", "error after", STATUS_COLOURS["error"]),
    ):
        if column in ordered:
            fig.add_trace(
                go.Scatter(
                    x=ordered[column],
                    y=labels,
                    mode="markers",
                    name=name,
                    marker={
                        "symbol": "line-ns-open",
                        "size": 18,
                        "color": colour,
                        "line": {"width": 3},
                    },
                )
            )
    fig.add_trace(
        go.Scatter(
            x=ordered["hours_since_fetch"].fillna(0),
            y=labels,
            mode="markers+text",
            marker={"size": 14, "color": [STATUS_COLOURS.get(s, NEUTRAL) for s in statuses]},
            text=statuses,
            textposition="middle right",
            name="hours since last load",
        )
    )
    fig.update_xaxes(title_text="hours since rows were last loaded", rangemode="tozero")
    fig.update_layout(hovermode="closest")
    return layout(fig, "Freshness per source", height=max(280, 30 * len(frame) + 120))


def lake_volume(frame: pd.DataFrame) -> go.Figure:
    """Body bytes stored per UTC day, stacked by source (responses in the hover)."""
    fig = go.Figure()
    by_source = frame.groupby(["day", "source"], as_index=False)[["body_bytes", "responses"]].sum()
    for source, rows in by_source.groupby("source", sort=True):
        rows = rows.sort_values("day")
        fig.add_trace(
            go.Bar(
                x=rows["day"],
                y=rows["body_bytes"] / 1e6,
                name=str(source),
                customdata=rows["responses"],
                hovertemplate="%{y:.2f} MB in %{customdata} responses",
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="body MB")
    return layout(fig, "Lake: body bytes per day and source")
