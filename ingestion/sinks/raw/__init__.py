"""The ``raw`` schema in PostgreSQL: DDL, the COPY format, the bulk loader and bookkeeping.

* :mod:`~ingestion.sinks.raw.rows`: what is loaded (:class:`RawRow`, :class:`QuarantineRow`)
  and what a load reports (:class:`LoadCounts`);
* :mod:`~ingestion.sinks.raw.schema`: idempotent DDL of the raw and bookkeeping tables, and
  ``analyze`` after a load that made a table's statistics stale;
* :mod:`~ingestion.sinks.raw.copy_format`: records as compact JSON and rows as COPY text
  (the loader's hot loop);
* :mod:`~ingestion.sinks.raw.loader`: :class:`RawLoader`, one transaction per batch;
* :mod:`~ingestion.sinks.raw.cursors`: where each series resumes, and the periods a
  provider is known to leave empty;
* :mod:`~ingestion.sinks.raw.run_log`: one run of an endpoint at a time, and the
  ``raw.ingestion_runs`` row of each run.

Identifiers go through ``psycopg.sql``; values are always parameters.
"""
