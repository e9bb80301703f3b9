"""The Streamlit dashboard: pages over the dbt marts and the MongoDB lake, read as ``reader``."""
