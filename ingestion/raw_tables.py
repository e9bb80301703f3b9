"""The ``raw`` schema contract: one table per source endpoint, one row per record.

This is the interface between ingestion (which creates and loads these tables) and dbt
(whose sources read them). Every table has its natural-key columns, then the same
bookkeeping columns:

``record jsonb``       the record as the API gave it (see ``record_shape``)
``fetched_at``         when the response holding the newest version of the record arrived
``first_seen_at``      when the record was first loaded
``last_seen_at``       when the record was last seen in a response (changed or not)
``run_id``             the ingestion run that last wrote the record
``lake_document_id``   the ``_id`` of the ``lake.responses`` document it came from: 32 hex
                       digits computed from the response's identity (an ObjectId's hex in
                       lakes written before ids were computed); the row commits only after
                       that document is stored, so it always exists

Asset keys in Dagster are ``raw/<source>/<endpoint>``; the table is ``raw.<source>__<endpoint>``.
Each endpoint declares its table where the endpoint is described, in its connector module
(``keys``, ``record_shape`` and ``ohlc`` on its ``EndpointSpec``); this module is the
contract read from the connector registry.
"""

from __future__ import annotations

from ingestion.connectors.registry import REGISTRY
from ingestion.connectors.tables import KeyColumn, RawTable

RAW_TABLES: tuple[RawTable, ...] = tuple(spec.raw_table for spec in REGISTRY)

BY_NAME: dict[str, RawTable] = {t.name: t for t in RAW_TABLES}


def get_table(source: str, endpoint: str) -> RawTable:
    """The raw table of ``source``/``endpoint``.

    Args:
        source: The source id.
        endpoint: The endpoint name.

    Returns:
        The table's contract.

    Raises:
        ValueError: When no registered endpoint has that table.
    """
    try:
        return BY_NAME[f"{source}__{endpoint}"]
    except KeyError:
        raise ValueError(f"no raw table for {source}/{endpoint}") from None


__all__ = ["BY_NAME", "RAW_TABLES", "KeyColumn", "RawTable", "get_table"]


# Bookkeeping tables (created by ingestion next to the per-endpoint tables):
#
# raw.ingestion_runs  one row per run and endpoint; primary key (run_id, source, endpoint)
#   run_id text, source text, endpoint text, started_at timestamptz, finished_at timestamptz,
#   status text ('success' | 'partial' | 'failed'), requests int, retries int,
#   fetched int, inserted int, updated int, unchanged int, quarantined int,
#   lake_documents int, error text, notes text (e.g. history a provider could not give)
#   Invariant: fetched = inserted + updated + unchanged + quarantined.
#
# raw.quarantine  one row per record (or body) that failed validation
#   quarantine_id bigserial primary key, run_id text, source text, endpoint text,
#   reason text, record jsonb (null when the body was not JSON), raw_text text,
#   lake_document_id text, quarantined_at timestamptz
#
# raw.known_empty  periods a provider has no record for (e.g. Coinbase sends no candle for
#   an hour without trades): source, endpoint, series text ("BTC-USD 1h"),
#   period_start timestamptz, reason text, run_id, recorded_at; primary key
#   (source, endpoint, series, period_start). The gap sensor does not ask for these again.
