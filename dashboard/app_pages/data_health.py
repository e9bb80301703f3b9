"""Data health: freshness per source, recent loads, quarantined records, dbt test results."""

import streamlit as st

from dashboard import charts, data, dbt_results, ui

st.title("Data health")
ui.require_warehouse()

health = data.pipeline_health()

st.subheader("Freshness per source")
if health.empty:
    ui.empty("pipeline health (the fct_pipeline_health mart)")
else:
    ui.chart(charts.freshness(health), data.now_utc(), key="freshness")
    ui.table(health, "pipeline health", data.now_utc())

st.subheader("Quarantined records")
quarantine = data.quarantine_summary()
if quarantine.empty:
    st.success(
        "No quarantined records.", icon="✅"
    ) if "fct_quarantine_summary" in data.warehouse_status().marts else ui.empty(
        "quarantine summary mart"
    )
else:
    ui.table(quarantine, "quarantine summary", data.now_utc())

st.subheader("Latest dbt test results")
results = dbt_results.load()
if results is None:
    ui.empty(
        "dbt run results (dbt_project/target/run_results.json)", "run `make demo` or `dbt build`"
    )
else:
    st.caption(
        f"From the file {results.path} (not from the warehouse), "
        f"{ui.as_of_text(results.generated_at)}."
    )
    counts = results.tests["status"].value_counts()
    passed, failed, warned = st.columns(3, border=True)
    passed.metric("passed", int(counts.get("pass", 0)))
    failed.metric("failed / errored", int(counts.get("fail", 0) + counts.get("error", 0)))
    warned.metric("warnings", int(counts.get("warn", 0)))
    ui.table(results.tests, "dbt test results", results.generated_at)
