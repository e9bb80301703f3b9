"""Ingestion: fetch the APIs, keep every response in the MongoDB lake, load PostgreSQL raw."""
