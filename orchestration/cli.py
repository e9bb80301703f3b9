"""The ``criptopipe`` console script: ingestion's commands plus the ones that need Dagster.

``ingestion`` never imports Dagster or Streamlit, so its CLI (services, symbols, simulator,
ingest, lake) lives in ``ingestion.cli``; this module mounts it and adds ``run``, ``ui``,
``dashboard`` and ``demo``.
"""

from __future__ import annotations

from ingestion.cli import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
