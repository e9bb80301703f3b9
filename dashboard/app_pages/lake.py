"""Lake: what MongoDB holds, from daily volumes down to one stored body.

Responses and bytes per day, error responses, quarantined bodies, the newest responses, and
one stored body pretty-printed.
"""

import streamlit as st

from dashboard import charts, lake_data, ui

st.title("Lake")
status = lake_data.lake_status()
if not status.ready:
    st.info(
        f"**{ui.NO_DATA}** to fill the lake from the offline simulator.\n\nWhy: {status.reason}.",
        icon="📭",
    )
    st.stop()
if st.sidebar.button("Refresh lake", icon=":material/refresh:"):
    lake_data.clear_cache()

responses_metric, quarantine_metric, database_metric = st.columns(3, border=True)
responses_metric.metric("responses stored", f"{status.responses:,}")
quarantine_metric.metric("quarantined bodies", f"{status.quarantined:,}")
database_metric.metric("lake database", status.database)
st.caption(
    "Every API response verbatim in `lake.responses` (MongoDB), read with aggregation "
    "pipelines over a read-only connection where the server has authentication."
)

st.subheader("Responses and bytes per day")
daily = lake_data.responses_per_day()
if daily.empty:
    ui.empty("responses in the last 30 days")
else:
    newest_day = ui.latest(daily, "day")
    ui.chart(ui.figure(charts.lake_volume, daily), newest_day, key="lake_volume")
    ui.table(daily, "lake responses per day", newest_day)

st.subheader("Error responses by status")
errors = lake_data.error_responses()
if errors.empty:
    st.success("No stored response has an HTTP error status.", icon="✅")
else:
    ui.table(errors, "lake error responses")

st.subheader("Quarantined bodies")
quarantine = lake_data.quarantine_summary()
if quarantine.empty:
    st.success("No body was quarantined: every response was JSON.", icon="✅")
else:
    ui.table(quarantine, "lake quarantine by reason")
    newest_quarantined = lake_data.newest_quarantined()
    ui.table(
        newest_quarantined,
        "newest quarantined bodies",
        ui.latest(newest_quarantined, "fetched_at"),
    )

st.subheader("Newest responses")
newest = lake_data.newest_responses()
ui.table(newest, "newest lake responses", ui.latest(newest, "fetched_at"))

st.subheader("Stored body")
collection = (
    st.segmented_control(
        "Collection",
        [lake_data.RESPONSES, lake_data.QUARANTINE],
        default=lake_data.RESPONSES,
        key="lake.collection",
    )
    or lake_data.RESPONSES
)
listed = newest if collection == lake_data.RESPONSES else lake_data.newest_quarantined()
choices = list(listed["document_id"]) if not listed.empty else []
labels = {
    row.document_id: f"{row.fetched_at:%Y-%m-%d %H:%M:%S} {row.source}/{row.endpoint} "
    f"({row.status})"
    for row in listed.itertuples()
}
typed = st.text_input("Document id (or pick one of the newest below)", key="lake.document_id")
picked = st.selectbox(
    "Newest documents", choices, format_func=lambda i: labels.get(i, i), key="lake.pick"
)
document_id = typed.strip() or picked
if document_id:
    document = lake_data.stored_body(collection, document_id)
    if document is None:
        st.warning(f"No document {document_id!r} in lake.{collection}.")
    else:
        text = str(document.pop("body", None) or document.pop("raw_text", None) or "")
        pretty = lake_data.pretty_json(text)
        st.caption(
            f"`{document.get('source')}/{document.get('endpoint')}` · status "
            f"{document.get('status')} · {len(text.encode('utf-8')):,} bytes · fetched "
            f"{ui.as_of_text(document.get('fetched_at')).removeprefix('as of ')}"
            + ("" if pretty is not None else " · not JSON: shown as stored")
        )
        with st.expander("Document fields"):
            st.json({k: str(v) for k, v in document.items()}, expanded=False)
        st.code(pretty if pretty is not None else text, language="json")
