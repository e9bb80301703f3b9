"""Data health: freshness per source, recent runs, quarantined records, lake, dbt tests."""

import streamlit as st

from dashboard import charts, data, ui

st.title("Data health")
status = ui.require_warehouse()

health = data.pipeline_health()
evaluated_at = ui.latest(health, "evaluated_at")

st.subheader("Freshness per source")
if health.empty:
    ui.empty("pipeline health (the fct_pipeline_health mart)")
else:
    counts = health["freshness_status"].value_counts()
    fresh, warn, error, never = st.columns(4, border=True)
    fresh.metric("fresh", int(counts.get("fresh", 0)))
    warn.metric("warn", int(counts.get("warn", 0)))
    error.metric("error", int(counts.get("error", 0)))
    never.metric("never loaded", int(counts.get("never_loaded", 0)))
    ui.chart(ui.figure(charts.freshness, health), evaluated_at, key="freshness")
    ui.table(
        health.drop(columns=["evaluated_at"]),
        "pipeline health",
        evaluated_at,
        column_config={"freshness_status": st.column_config.TextColumn("status")},
    )

st.subheader("Recent runs")
runs = data.recent_runs()
if runs.empty:
    ui.empty("ingestion runs")
else:
    ui.table(runs, "recent ingestion runs", ui.latest(runs, "started_at"))

st.subheader("Quarantined records")
quarantine = data.quarantine_reasons()
if not quarantine.empty:
    ui.table(quarantine, "quarantine reasons", ui.latest(quarantine, "last_quarantined_at"))
elif "fct_quarantine_reasons" in status.marts:
    st.success("Nothing is quarantined.", icon="✅")
else:
    ui.empty("quarantine summary (the fct_quarantine_reasons mart)")

st.subheader("Lake size per source")
lake = data.lake_documents()
if lake.empty:
    ui.empty("lake documents")
else:
    st.caption(
        "Responses kept verbatim in the MongoDB lake, counted from the run log; the Lake "
        "page reads the lake itself (bytes per day, errors, quarantine, stored bodies)."
    )
    ui.table(lake, "lake documents per source", ui.latest(lake, "last_run_at"))

st.subheader("Latest dbt test results")
results = data.dbt_test_results()
if results.empty:
    ui.empty(
        "dbt test results (marts.dbt_run_results)", "run `make demo` or `criptopipe dbt build`"
    )
else:
    ran_at = ui.latest(results, "ran_at")
    commands = ", ".join(sorted(set(results["dbt_command"])))
    st.caption(
        f"The latest result of each test, from every dbt invocation that ran it (dbt "
        f"{commands}; from Dagster, `criptopipe dbt` or docker compose alike), recorded in "
        f"the warehouse by dbt's on-run-end hook; newest {ui.as_of_text(ran_at)}."
    )
    outcome = results["status"].value_counts()
    passed, failed, warned = st.columns(3, border=True)
    passed.metric("passed", int(outcome.get("pass", 0)))
    failed.metric("failed or errored", int(outcome.get("fail", 0) + outcome.get("error", 0)))
    warned.metric("warnings", int(outcome.get("warn", 0)))
    ui.table(results, "dbt test results", ran_at)
